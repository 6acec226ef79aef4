#pragma once
// The status scoreboards of one server generation (gantry/scoreboard.hpp), on Apache's side:
// Apache's parent creates one board per daemon process cell in post_config, before the MPM
// forks its children, and maps each read-only; the children inherit those mappings and read
// them for the gantry-status page (module/status_handler.cpp). Only the process of a cell
// ever gets that cell's writable descriptor (through the spawner); the Apache children close
// every writable descriptor at child_init.
//
// Each board is a sealed memfd (no shrinking or growing: a daemon cannot make a reader's
// mapping fault), and the readers' mappings come from a read-only descriptor, so not even
// mprotect() can make them writable.
#include <apr_pools.h>

#include <cstddef>
#include <cstdint>

#include "daemon_runtime.hpp"

namespace gantry::module {

struct StatusBoardView {
  const void* base = nullptr;  // null: no board (creation failed)
  std::size_t bytes = 0;
};

// Parent, real post_config pass: boards for every cell of every group of `generation`
// (two cells per process slot, as the hand-over has). False (logged) if they could not be
// made: the daemons then run without, and the status page says so.
bool create_status_boards(apr_pool_t* pconf, server_rec* s, const DaemonGeneration& generation);
// Parent: the writable descriptor of a cell's board for the process forked into it; -1 if none.
int status_board_fd(std::size_t slot, int cell);
// Anyone of this generation: the read-only mapping of a cell's board.
StatusBoardView status_board(std::size_t slot, int cell);
// When the boards were made (the start of the totals), microseconds of wall clock.
std::int64_t status_boards_created_us();
// Apache children: drop the writable descriptors inherited from the parent.
void close_status_board_fds();

}  // namespace gantry::module
