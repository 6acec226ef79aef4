#include "status_boards.hpp"

#include <fcntl.h>
#include <http_log.h>
#include <sys/mman.h>
#include <unistd.h>

#include <apr_time.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "gantry/scoped_fd.hpp"
#include "gantry/scoreboard.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kCells = 2;

struct Board {
  ScopedFd fd;  // writable memfd: the parent's, handed to the cell's processes only
  const void* view = nullptr;
  std::size_t bytes = 0;
};

struct Boards {
  Board* boards = nullptr;  // slots x kCells, in pconf
  std::size_t count = 0;
  std::int64_t created_us = 0;
};
Boards current;

apr_status_t release_boards(void*) {
  for (std::size_t i = 0; i < current.count; ++i) {
    Board& b = current.boards[i];
    if (b.view) munmap(const_cast<void*>(b.view), b.bytes);
    b.~Board();  // placement-new'd in pconf: closes its descriptor
  }
  current = Boards{};
  return APR_SUCCESS;
}

// One sealed board: initialised through a short-lived writable mapping, then mapped for
// reading through a read-only descriptor. Returns the error text, or "" on success.
std::string make_board(Board& b, std::size_t threads) {
  const std::size_t bytes = scoreboard::board_bytes(threads);
  ScopedFd fd(memfd_create("gantry-status", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return std::string("memfd_create: ") + std::strerror(errno);
  // On failure `fd` closes when this returns, after errno was read.
  auto fail = [](const std::string& step) { return step + ": " + std::strerror(errno); };
  if (ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return fail("ftruncate");
  void* init = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (init == MAP_FAILED) return fail("mmap");
  auto* board = new (init) scoreboard::ProcessBoard();
  for (std::size_t t = 0; t < threads; ++t) new (&scoreboard::thread_scores(board)[t]) scoreboard::ThreadScore();
  board->threads.store(static_cast<std::uint32_t>(threads));
  board->magic.store(scoreboard::kMagic);
  munmap(init, bytes);
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) return fail("sealing");
  // A read-only descriptor of the same memory: a mapping made from it can never be made
  // writable (mprotect refuses), so no Apache child can write a daemon's board.
  const std::string self = "/proc/self/fd/" + std::to_string(fd.get());
  ScopedFd read_only(open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (read_only.get() < 0) return fail("opening " + self + " read-only");
  void* view = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, read_only.get(), 0);
  if (view == MAP_FAILED) return fail("mmap read-only");
  b.view = view;
  b.bytes = bytes;
  b.fd = std::move(fd);
  return "";
}

}  // namespace

bool create_status_boards(apr_pool_t* pconf, server_rec* s, const DaemonGeneration& generation) {
  std::size_t slots = 0;
  for (const auto& g : generation.groups) slots = std::max(slots, g.first_slot + g.processes);
  current.count = slots * kCells;
  current.boards = static_cast<Board*>(apr_pcalloc(pconf, sizeof(Board) * (current.count ? current.count : 1)));
  for (std::size_t i = 0; i < current.count; ++i) new (&current.boards[i]) Board();
  current.created_us = apr_time_now();
  apr_pool_cleanup_register(pconf, nullptr, release_boards, apr_pool_cleanup_null);
  for (const auto& g : generation.groups) {
    for (unsigned p = 0; p < g.processes; ++p) {
      for (int c = 0; c < kCells; ++c) {
        Board& b = current.boards[(g.first_slot + p) * kCells + c];
        const std::string error = make_board(b, static_cast<std::size_t>(g.options().threads));
        if (error.empty()) continue;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "GANTRY0620: cannot create the status scoreboard of daemon group '%s': %s; its"
                     " processes run without one and the gantry-status page shows no figures for"
                     " them - check the memory and descriptor limits of Apache's parent",
                     g.name().c_str(), error.c_str());
        return false;
      }
    }
  }
  return true;
}

int status_board_fd(std::size_t slot, int cell) {
  const std::size_t i = slot * kCells + static_cast<std::size_t>(cell);
  return i < current.count ? current.boards[i].fd.get() : -1;
}

StatusBoardView status_board(std::size_t slot, int cell) {
  const std::size_t i = slot * kCells + static_cast<std::size_t>(cell);
  if (i >= current.count) return {};
  return {current.boards[i].view, current.boards[i].bytes};
}

std::int64_t status_boards_created_us() { return current.created_us; }

void close_status_board_fds() {
  for (std::size_t i = 0; i < current.count; ++i) {
    current.boards[i].fd.reset();
  }
}

}  // namespace gantry::module
