#pragma once
// Replacing a recycled daemon process without a gap: the standby.
//
// Why: Apache's parent notices a dead process only in its maintenance loop (once a second)
// and a new process then needs Python and the application; a group with one process would
// leave every request queued at the socket for more than a second at each recycle. So a
// group that recycles (maximum-requests, maximum-memory, inactivity-timeout,
// restart-interval) keeps, per process slot, a standby: forked, privileges dropped, but
// without Python (a few hundred KB of its own), blocked on a futex. A process that decides
// to recycle stops accepting and hands over; the standby starts Python and accepts at once,
// while the old one finishes what it has in flight. The parent then forks the next standby.
//
// Each slot has two cells (processes); each process writes its own cell's state, the token
// `go` says "one more process must start accepting". The parent only fills empty cells and
// gives the token when a process died without handing over (a crash), so there is never
// more than one accepting process per slot and never none for long.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gantry::module {

enum class CellState : std::int32_t {
  empty = 0,
  waiting = 1,   // a standby, before Python, waiting for the token
  serving = 2,   // accepting requests
  draining = 3,  // stopped accepting (recycle): finishing its requests, then exits
};

struct SlotHandover {
  std::atomic<std::uint32_t> go{0};  // 1: a waiting standby must take over
  std::atomic<std::int32_t> cells[2] = {};
  // Each cell's RSS after its last request, so the parent can name it when the process
  // dies of a signal (it cannot ask a dead process). Kept for every slot, standby or not.
  std::atomic<std::uint64_t> rss[2] = {};

  CellState state(int cell) const { return static_cast<CellState>(cells[cell].load()); }
  void set_state(int cell, CellState s) { cells[cell].store(static_cast<std::int32_t>(s)); }

  // The serving process in `cell` stops accepting and lets the standby in.
  void hand_over(int cell) noexcept;
  // Gives the token (the parent: a serving process died without handing over).
  void give_token() noexcept;
  // A standby in `cell` blocks until it holds the token, then is serving.
  void wait_for_turn(int cell) noexcept;
  // The other cell holds a standby that waits (and so starts at once when handed over).
  bool standby_waiting(int cell) const { return state(1 - cell) == CellState::waiting; }
};

// One SlotHandover per slot in memory shared with the daemon processes: a memfd made and
// mapped MAP_SHARED by the parent, passed to each daemon by the spawner (which did not
// inherit it). nullptr on failure.
struct HandoverPage {
  SlotHandover* slots = nullptr;
  std::size_t count = 0;
  int fd = -1;
};
HandoverPage map_handovers(std::size_t slots) noexcept;
void unmap_handovers(HandoverPage& page) noexcept;  // parent: unmaps and closes
// A daemon process maps the page it was given; .slots is null if it is not one.
HandoverPage attach_handovers(int fd) noexcept;

}  // namespace gantry::module
