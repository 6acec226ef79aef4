#pragma once
// A daemon process's side of its scoreboard (gantry/scoreboard.hpp): the one writer of its
// own ProcessBoard. Used before Python by module/daemon_process.cpp (attach, spare/starting,
// the exit) and by daemon/ (requests, memory, state), reached there through DaemonRunSpec.
//
// The request path costs a few relaxed stores: no syscall, no lock, no allocation.
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string_view>

#include "gantry/scoreboard.hpp"

namespace gantry::scoreboard {

class BoardWriter {
 public:
  // Maps the board behind `fd` (which stays the caller's) read-write; nullptr if `fd` is
  // not a board. Never unmapped: the process ends with it.
  static BoardWriter* attach(int fd) noexcept;
  // In a process that attached a board for another one (a group's template, for the
  // process it just forked, which keeps its copy): unmaps it here and frees the writer.
  static void detach(BoardWriter* writer) noexcept;
  // Only tests free a writer (a daemon keeps its one for life): forgets this thread's
  // claimed record, so a writer later allocated at the same address claims its own.
  ~BoardWriter();

  // A new process takes the cell: folds the previous process's counters into the carried
  // totals (and counts it `killed` if it never left through the exit path), then shows
  // this one as `spare` (a standby) or `starting`.
  void begin_process(pid_t pid, std::int64_t now_us, bool standby) noexcept;
  void set_state(State state) noexcept;
  // The process stops accepting because of `exit_status` (a DaemonExit).
  void draining(int exit_status) noexcept;
  // The process leaves with `exit_status` (a DaemonExit): counted, and shown as exited.
  void exited(int exit_status) noexcept;
  void set_request_limit(std::uint64_t limit) noexcept;

  // On a request thread: the request starts / ends. `failure` null: it succeeded.
  // `queue_wait_us` < 0: unknown (no mod_wsgi.queue_start).
  void request_started(std::string_view method, std::string_view uri, std::int64_t started_us,
                       std::int64_t queue_wait_us) noexcept;
  void request_finished(const Failure* failure) noexcept;

  // Memory, after a request (RSS, peak RSS) or from the periodic sampler (all four, and
  // one history sample). 0 leaves a figure as it was.
  void note_rss(std::uint64_t rss, std::uint64_t peak) noexcept;
  void note_sample(std::int64_t at_us, std::uint64_t rss, std::uint64_t pss, std::uint64_t uss) noexcept;
  // A request raised the peak RSS from `before` to `after`: kept if among the largest.
  void note_growth(std::string_view method, std::string_view uri, std::int64_t at_us,
                   std::uint64_t before, std::uint64_t after) noexcept;

  std::size_t thread_capacity() const { return threads_; }

 private:
  BoardWriter(ProcessBoard* board, std::size_t bytes, std::size_t threads)
      : board_(board), bytes_(bytes), threads_(threads) {}
  ThreadScore* this_thread() noexcept;  // the calling thread's score; null when all taken

  ProcessBoard* board_;
  std::size_t bytes_;  // of the mapping
  std::size_t threads_;
  std::atomic<std::size_t> claimed_{0};
  std::mutex mutex_;  // the multi-field records (samples, growth): one writer at a time
};

}  // namespace gantry::scoreboard
