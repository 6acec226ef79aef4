#include "worker_pool.hpp"

#include "fork_guard.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace gantry::daemon {

WorkerPool::WorkerPool(int listen_fd, unsigned threads, std::size_t stack_size, Handler handler)
    : listen_fd_(listen_fd), threads_(threads ? threads : 1), stack_size_(stack_size),
      handler_(std::move(handler)) {
  ScopedFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) throw std::system_error(errno, std::generic_category(), "eventfd");
  stop_fd_ = fork_guard::GuardedFd(std::move(stop));  // a fork of this process must never wait on it
  starts_.reserve(threads_);  // worker_entry() gets pointers into it: never reallocate
}

WorkerPool::~WorkerPool() {
  stop_accepting();
  for (pthread_t t : workers_) pthread_join(t, nullptr);
  starts_.clear();  // the epoll instances, then (a member) the stop eventfd
}

fork_guard::GuardedFd WorkerPool::make_epoll() const {
  ScopedFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  epoll_event listen_ev{};
  listen_ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  listen_ev.data.fd = listen_fd_;
  epoll_event stop_ev{};
  stop_ev.events = EPOLLIN;
  stop_ev.data.fd = stop_fd_.get();
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, listen_fd_, &listen_ev) != 0 ||
      epoll_ctl(ep.get(), EPOLL_CTL_ADD, stop_fd_.get(), &stop_ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");  // ep closes after errno is read
  // Shared with any fork (one epoll instance for both): a fork must not wait on it, nor
  // change it.
  return fork_guard::GuardedFd(std::move(ep));
}

void WorkerPool::start() {
  for (unsigned i = 0; i < threads_; ++i) {
    starts_.push_back({this, make_epoll()});
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack_size_) {
      // PTHREAD_STACK_MIN is the floor the kernel/libc accept; the option is validated earlier.
      int rc = pthread_attr_setstacksize(&attr, stack_size_);
      if (rc) {
        pthread_attr_destroy(&attr);
        throw std::system_error(rc, std::generic_category(), "pthread_attr_setstacksize");
      }
    }
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, &WorkerPool::worker_entry, &starts_.back());
    pthread_attr_destroy(&attr);
    if (rc) throw std::system_error(rc, std::generic_category(), "pthread_create");
    workers_.push_back(thread);
  }
}

void* WorkerPool::worker_entry(void* start) {
  auto* s = static_cast<Start*>(start);
  s->pool->worker_loop(s->epoll_fd.get());
  return nullptr;
}

void WorkerPool::worker_loop(int epoll_fd) {
  for (;;) {
    // A process the application forked on this thread, back from the request it forked
    // in: it must not accept (fork_guard.hpp).
    fork_guard::leave_if_fork("the worker loop");
    if (!accepting_.load(std::memory_order_acquire)) break;
    // Idle: sleep until the kernel wakes this thread for a connection. The listening socket
    // is level-triggered here, so once this instance has seen it readable, epoll_wait()
    // returns at once for as long as the backlog is not empty: no connection waits
    // behind a thread that sleeps. (Trying accept4() first costs an EAGAIN at most loads.)
    epoll_event events[2];
    int n = epoll_wait(epoll_fd, events, 2, -1);
    bool stop = false, ready = false;
    for (int i = 0; i < n; ++i) (events[i].data.fd == stop_fd_.get() ? stop : ready) = true;
    if (stop || !ready) continue;  // the loop head sees the stop
    // Woken for a connection: take it even if stop_accepting() came in the meantime. With
    // EPOLLEXCLUSIVE the kernel may have woken only this thread for it; leaving it in the
    // backlog could strand it until the next connection arrives. drain() waits for it.
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      // Out of descriptors: the connection stays in the backlog (a sibling process, or
      // this one once a request has finished, takes it); said, not swallowed.
      if (error == EMFILE || error == ENFILE) accept_failed(error);
      continue;  // EAGAIN: a sibling was faster
    }
    busy_.fetch_add(1, std::memory_order_relaxed);
    handler_(ScopedFd(fd));  // the handler closes it; never throws (it catches everything)
    busy_.fetch_sub(1, std::memory_order_relaxed);
  }
  std::lock_guard lock(mutex_);
  ++exited_;
  exited_cv_.notify_all();
}

void WorkerPool::accept_failed(int error) {
  // One line per kAcceptLogInterval at most, counting what it did not say: a process out
  // of descriptors would otherwise write one per thread every 100 ms.
  constexpr auto kAcceptLogInterval = std::chrono::seconds(10);
  std::string line;
  {
    std::lock_guard lock(accept_log_mutex_);
    ++accept_failures_;
    const auto now = std::chrono::steady_clock::now();
    if (log_ != nullptr && now - accept_logged_at_ >= kAcceptLogInterval) {
      line = "GANTRY0525: daemon process cannot accept connections (" + who_ + "): " +
             std::strerror(error) + " (" + std::to_string(accept_failures_) +
             " failed accepts since the last such line); requests wait in the listen backlog "
             "until descriptors are freed - look for descriptors the application leaks, or "
             "raise the limit (ulimit -n)";
      accept_logged_at_ = now;
      accept_failures_ = 0;
    }
  }
  if (!line.empty()) log_->log(Level::error, line);
  poll(nullptr, 0, 100);  // let requests finish and free some
}

void WorkerPool::stop_accepting() {
  if (!accepting_.exchange(false, std::memory_order_acq_rel)) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = write(stop_fd_.get(), &one, sizeof one);
}

bool WorkerPool::drain(double seconds) {
  // A thread leaves its loop only after serving what it accepted, including a connection
  // taken between stop_accepting() and its next look at the flag: so the pool is drained
  // exactly when every thread has left (threads that never started count as left).
  std::unique_lock lock(mutex_);
  auto drained = [&] { return exited_ >= workers_.size(); };
  if (seconds <= 0) {
    // No grace: only say whether it is drained. The idle threads are leaving right now
    // (the stop eventfd woke them): wait for each thread to be either gone or busy.
    // A thread between accept4() and counting itself busy is neither, so it is waited for.
    for (int i = 0; i < 1000 && exited_ + busy_.load() < workers_.size(); ++i)
      exited_cv_.wait_for(lock, std::chrono::milliseconds(1));
    return drained();
  }
  return exited_cv_.wait_for(lock, std::chrono::duration<double>(seconds), drained);
}

}  // namespace gantry::daemon
