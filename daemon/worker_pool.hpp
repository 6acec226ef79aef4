#pragma once
// The request threads of one daemon process. Each idle thread accepts for itself.
//
// Why accept only while a thread is idle: all processes of a group share one listening
// socket. A process that has no free thread leaves connections in the kernel's backlog,
// where a sibling process with a free thread picks them up; a process that is draining
// (recycle, graceful restart) simply stops accepting and its siblings, or its replacement,
// take over the backlog. No connection is ever parked behind a busy process.
//
// Why no acceptor thread: handing each connection from an acceptor to a worker cost two
// thread wake-ups and the lock traffic around them, more CPU than a small request itself.
// Here an idle thread sleeps in epoll_wait() on its own epoll instance, which holds the
// listening socket with EPOLLEXCLUSIVE (the kernel wakes one waiting thread of the whole
// group per connection, and skips instances nobody waits on, i.e. busy threads) and the
// pool's stop eventfd (level-triggered, so once written it wakes every thread for good).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <string>
#include <vector>

#include "fork_guard.hpp"
#include "gantry/log.hpp"
#include "gantry/scoped_fd.hpp"

namespace gantry::daemon {

class WorkerPool {
 public:
  using Handler = std::function<void(ScopedFd connection)>;

  // `stack_size` 0 keeps the system default; otherwise each request thread gets exactly
  // that stack (WSGIDaemonProcess stack-size=), which bounds the process's virtual size.
  // `listen_fd` must be non-blocking (siblings race for each connection).
  WorkerPool(int listen_fd, unsigned threads, std::size_t stack_size, Handler handler);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Where the pool says that it cannot accept (out of descriptors). May be null.
  void log_to(Logger* log, std::string who) {
    log_ = log;
    who_ = std::move(who);
  }

  // Starts the request threads. Throws std::system_error if one cannot start.
  void start();
  // Stops accepting; connections already accepted are still served. Safe from any thread.
  void stop_accepting();
  // After stop_accepting(), from one thread: waits until every accepted connection has
  // been handled, or `seconds` passed (<= 0: does not wait). Returns true if drained.
  bool drain(double seconds);
  // Requests in flight right now.
  unsigned busy() const { return busy_.load(std::memory_order_relaxed); }

 private:
  struct Start {
    WorkerPool* pool;
    fork_guard::GuardedFd epoll_fd;
  };
  static void* worker_entry(void* start);
  void worker_loop(int epoll_fd);
  fork_guard::GuardedFd make_epoll() const;  // this thread's epoll instance; throws std::system_error
  void accept_failed(int error);  // logs (rate-limited) and backs off

  int listen_fd_;
  unsigned threads_;
  std::size_t stack_size_;
  Handler handler_;
  Logger* log_ = nullptr;
  std::string who_;
  std::mutex accept_log_mutex_;
  std::chrono::steady_clock::time_point accept_logged_at_{};
  unsigned accept_failures_ = 0;  // since the last line
  fork_guard::GuardedFd stop_fd_;  // eventfd, written once by stop_accepting(): wakes every idle thread

  std::atomic<bool> accepting_{true};
  std::atomic<unsigned> busy_{0};
  // A thread leaves its loop only when stopping and not serving: drained == all have left.
  mutable std::mutex mutex_;
  std::condition_variable exited_cv_;
  unsigned exited_ = 0;
  std::vector<pthread_t> workers_;
  std::vector<Start> starts_;
};

}  // namespace gantry::daemon
