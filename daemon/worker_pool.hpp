#pragma once
// The request threads of one daemon process, and the one thread that accepts for them.
//
// Why an acceptor that only accepts while a worker is idle: all processes of a group share
// one listening socket. A process that has no free thread leaves connections in the
// kernel's backlog, where a sibling process with a free thread picks them up; a process that
// is draining (recycle, graceful restart) simply stops accepting and its siblings, or its
// replacement, take over the backlog. No connection is ever parked behind a busy process.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <vector>

namespace gantry::daemon {

class WorkerPool {
 public:
  using Handler = std::function<void(int connection_fd)>;

  // `stack_size` 0 keeps the system default; otherwise each request thread gets exactly
  // that stack (WSGIDaemonProcess stack-size=), which bounds the process's virtual size.
  WorkerPool(int listen_fd, unsigned threads, std::size_t stack_size, Handler handler);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the acceptor and the workers. Throws std::system_error if a thread cannot start.
  void start();
  // Stops accepting; connections already accepted are still served. Safe from any thread.
  void stop_accepting();
  // After stop_accepting(), from one thread: waits until every accepted connection has
  // been handled, or `seconds` passed (<= 0: does not wait). Returns true if drained.
  bool drain(double seconds);
  // Requests in flight right now.
  unsigned busy() const;

 private:
  static void* worker_entry(void* self);
  static void* acceptor_entry(void* self);
  void worker_loop();
  void acceptor_loop();
  pthread_t spawn(void* (*entry)(void*), std::size_t stack_size);

  int listen_fd_;
  unsigned threads_;
  std::size_t stack_size_;
  Handler handler_;
  int wake_fd_ = -1;  // eventfd that interrupts the acceptor's poll()

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;    // a connection was queued, or stopping
  std::condition_variable worker_freed_;  // a worker became idle, or the queue drained
  std::deque<int> queue_;
  unsigned idle_ = 0;
  unsigned busy_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<pthread_t> workers_;
  pthread_t acceptor_{};
  bool acceptor_started_ = false;
  bool acceptor_joined_ = false;  // drain() joined it (main thread only)
};

}  // namespace gantry::daemon
