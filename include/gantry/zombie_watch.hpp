#pragma once
// The raw wait statuses of daemon processes, caught on their zombies before httpd's MPM
// reaps them (it passes the parent's other-child callback only a decoded number: an
// application's os._exit(3) and a SIGQUIT both arrive as 3).
//
// On SIGCHLD the handler calls peek_all() with a function that does waitid(WNOWAIT) on one
// pid; everything it touches is a lock-free atomic in a table allocated before the handler
// is installed, sized to the processes the configuration can have alive at once. A pid
// that does not fit is counted (dropped()), never silently lost; the caller logs it.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <memory>

namespace gantry {

class ZombieWatch {
 public:
  // Asks the kernel for `pid`'s raw wait status without reaping it: >= 0, or -1 (alive).
  using Peek = int (*)(pid_t pid) noexcept;

  ZombieWatch() = default;
  // A handler still installed (a signal during static destruction) then sees no table.
  ~ZombieWatch() { entries_.store(nullptr, std::memory_order_release); }
  ZombieWatch(const ZombieWatch&) = delete;
  ZombieWatch& operator=(const ZombieWatch&) = delete;

  // Not in a signal handler. Entries tracked so far are forgotten.
  void reset(std::size_t capacity);
  std::size_t capacity() const { return capacity_.load(std::memory_order_acquire); }

  // A process whose status should be kept; false if the table is full (counted in
  // dropped()). Not in a signal handler.
  bool track(pid_t pid, Peek peek) noexcept;
  // The handler's part: async-signal-safe if `peek` is.
  void peek_all(Peek peek) noexcept;
  // The raw wait status seen for `pid` (-1 if none); forgets the pid.
  int take(pid_t pid) noexcept;
  // Pids that could not be tracked since the last call.
  std::size_t take_dropped() noexcept { return dropped_.exchange(0, std::memory_order_acq_rel); }
  std::size_t tracked() const noexcept;

 private:
  struct Entry {
    std::atomic<pid_t> pid{0};    // 0 = free
    std::atomic<int> status{-1};  // raw wait status once seen, else -1
  };
  std::unique_ptr<Entry[]> storage_;
  std::atomic<Entry*> entries_{nullptr};
  std::atomic<std::size_t> capacity_{0};
  std::atomic<std::size_t> used_{0};  // high-water mark of entries handed out
  std::atomic<std::size_t> dropped_{0};
};

}  // namespace gantry
