#pragma once
// The only memory a daemon process shares with Apache's parent: one page per process slot.
//
// Hand-over (why there is a standby): Apache's parent notices a dead process only in its
// maintenance loop (once a second) and a new process then needs Python and the application;
// a group with one process would leave every request queued at the socket for more than a
// second at each recycle. So a group that recycles (maximum-requests, maximum-memory,
// inactivity-timeout, restart-interval, cpu-time-limit) keeps, per slot, a standby: forked,
// privileges dropped, without Python, blocked on a futex. A process that decides to recycle
// stops accepting and hands over; the standby starts Python and accepts at once, while the
// old one finishes what it has in flight. The parent then forks the next standby.
//
// A slot has two cells (processes). Both cells' states and the token ("a waiting standby
// must take over") are ONE atomic word, changed only by compare-and-swap: a standby takes
// the token and becomes serving in one step, a process hands over (serving -> draining and
// the token offered) in one step, and the parent offers the token only if, in the same word,
// no cell serves, none is offered and a standby waits. So no interleaving of a crash with a
// hand-over gives a slot two accepting processes, or leaves it with none and no token.
//
// Isolation (docs/shared-memory.md): the parent maps all pages from one memfd; a daemon
// maps only its own slot's page (mmap at the page's offset) and closes the descriptor
// before any application code runs, so a tenant can scribble on its own slot at most. The
// parent treats every word it reads here as untrusted (SlotPage::checked_* below).
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gantry/scoped_fd.hpp"

namespace gantry {

enum class CellState : std::uint32_t {
  empty = 0,
  waiting = 1,   // a standby, before Python, waiting for the token
  serving = 2,   // accepting requests
  draining = 3,  // stopped accepting (recycle): finishing its requests, then exits
};

class SlotHandover {
 public:
  // The word's layout: bits 0-1 cell 0, bits 2-3 cell 1, bit 4 the token.
  static constexpr std::uint32_t kTokenBit = 1u << 4;
  static constexpr std::uint32_t kValidBits = 0x1f;

  CellState state(int cell) const noexcept { return state_in(load(), cell); }
  bool token_offered() const noexcept { return (load() & kTokenBit) != 0; }
  std::uint32_t word() const noexcept { return load(); }

  // ---- A daemon process, about its own cell ----
  // Stops accepting and lets the standby in: serving -> draining with the token offered.
  // A cell that was not serving only becomes draining (it has no turn to give away).
  void hand_over(int cell) noexcept;
  // waiting + token offered -> serving, token taken: true if this call took it.
  bool try_take_turn(int cell) noexcept;
  // Blocks until try_take_turn() succeeds.
  void wait_for_turn(int cell) noexcept;
  // The other cell holds a standby that waits (and so starts at once when handed over).
  bool standby_waiting(int cell) const noexcept { return state(1 - cell) == CellState::waiting; }

  // ---- The parent ----
  // Sets one cell's state (before a fork; empty after a death), keeping the rest.
  void set_state(int cell, CellState s) noexcept;
  // What the slot needs after a death, decided on one snapshot of the word (see above).
  enum class Need { nothing, standby_took_token, process };
  //   nothing: a cell serves, or the token is already offered (a standby will take it)
  //   standby_took_token: no cell served; the token was offered to the waiting standby
  //   process: no cell serves and no standby waits: fork one (it takes the token if offered)
  Need settle() noexcept;
  // The parent's own knowledge wins over the word: a cell it knows is dead is empty, bits
  // outside the layout are cleared. Returns true if the word had to be corrected.
  bool reconcile(bool cell0_alive, bool cell1_alive) noexcept;

  static CellState state_in(std::uint32_t word, int cell) noexcept {
    return static_cast<CellState>((word >> (2 * cell)) & 3u);
  }

 private:
  std::uint32_t load() const noexcept { return word_.load(std::memory_order_acquire); }
  static std::uint32_t with_state(std::uint32_t word, int cell, CellState s) noexcept {
    return (word & ~(3u << (2 * cell))) | (static_cast<std::uint32_t>(s) << (2 * cell));
  }
  void wake() noexcept;
  std::atomic<std::uint32_t> word_{0};
};

// One slot's page.
struct SlotPage {
  SlotHandover handover;
  // Each cell's RSS after its last request, so the parent can name it when the process
  // dies of a signal (it cannot ask a dead process). Untrusted: see checked_rss().
  std::atomic<std::uint64_t> rss[2] = {};
  // Written by the process itself just before _exit(status): pid << 16 | 0x100 | status.
  // Needed because httpd's MPM hands the parent only the decoded number (exit status OR
  // signal number, not which).
  std::atomic<std::int64_t> own_exit[2] = {};

  void note_own_exit(int cell, pid_t pid, int status) noexcept;
  // The status `pid` noted in `cell`, or -1 (also for anything that does not name `pid`).
  int own_exit_of(int cell, pid_t pid) const noexcept;
  // The RSS `cell` noted, or 0 when it is not plausible (more than `limit` bytes).
  std::uint64_t checked_rss(int cell, std::uint64_t limit) const noexcept;
  void clear_cell(int cell) noexcept;  // parent, before a cell's next process starts
};

// The parent's pages: one memfd, one page (or more, never shared) per slot.
class SlotPages {
 public:
  SlotPages() = default;
  ~SlotPages() { release(); }
  SlotPages(const SlotPages&) = delete;
  SlotPages& operator=(const SlotPages&) = delete;
  SlotPages(SlotPages&& other) noexcept { *this = static_cast<SlotPages&&>(other); }
  SlotPages& operator=(SlotPages&& other) noexcept;

  // Maps `slots` pages; false (and errno) on failure.
  bool create(std::size_t slots) noexcept;
  void release() noexcept;  // unmaps and closes (the daemons keep their own mappings)

  bool ok() const { return base_ != nullptr; }
  std::size_t size() const { return count_; }
  int fd() const { return fd_.get(); }
  SlotPage* page(std::size_t slot) const noexcept;

  // The mapping as plain data, for records that must outlive this object's code (a
  // graceful restart unloads the module while old processes still note their exits here):
  // hence a plain int descriptor, closed by release(Raw&) only.
  struct Raw {
    char* base;
    std::size_t count;
    int fd;
  };
  Raw detach() noexcept;                        // this object no longer owns the mapping
  static void release(Raw& raw) noexcept;
  static SlotPage* page_in(const Raw& raw, std::size_t slot) noexcept;

  // The spacing of pages: a daemon's mapping of its page can reach no other slot.
  static std::size_t stride() noexcept;
  // A daemon process: maps page `slot` of the memfd `fd` only; nullptr if it cannot.
  // The caller closes `fd` before running anything it does not trust.
  static SlotPage* attach_one(int fd, std::size_t slot) noexcept;

 private:
  char* base_ = nullptr;
  std::size_t count_ = 0;
  ScopedFd fd_;
};

}  // namespace gantry
