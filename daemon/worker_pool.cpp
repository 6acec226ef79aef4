#include "worker_pool.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace gantry::daemon {

WorkerPool::WorkerPool(int listen_fd, unsigned threads, std::size_t stack_size, Handler handler)
    : listen_fd_(listen_fd), threads_(threads ? threads : 1), stack_size_(stack_size),
      handler_(std::move(handler)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    stopping_ = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = write(wake_fd_, &one, sizeof one);
  work_ready_.notify_all();
  worker_freed_.notify_all();
  if (acceptor_started_ && !acceptor_joined_) pthread_join(acceptor_, nullptr);
  for (pthread_t t : workers_) pthread_join(t, nullptr);
  for (int fd : queue_) close(fd);
  close(wake_fd_);
}

pthread_t WorkerPool::spawn(void* (*entry)(void*), std::size_t stack_size) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (stack_size) {
    // PTHREAD_STACK_MIN is the floor the kernel/libc accept; the option is validated earlier.
    int rc = pthread_attr_setstacksize(&attr, stack_size);
    if (rc) {
      pthread_attr_destroy(&attr);
      throw std::system_error(rc, std::generic_category(), "pthread_attr_setstacksize");
    }
  }
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, entry, this);
  pthread_attr_destroy(&attr);
  if (rc) throw std::system_error(rc, std::generic_category(), "pthread_create");
  return thread;
}

void WorkerPool::start() {
  for (unsigned i = 0; i < threads_; ++i) workers_.push_back(spawn(&WorkerPool::worker_entry, stack_size_));
  // The acceptor does almost nothing: a small stack is enough whatever stack-size says.
  acceptor_ = spawn(&WorkerPool::acceptor_entry, 256 * 1024);
  acceptor_started_ = true;
}

void* WorkerPool::worker_entry(void* self) {
  static_cast<WorkerPool*>(self)->worker_loop();
  return nullptr;
}

void* WorkerPool::acceptor_entry(void* self) {
  static_cast<WorkerPool*>(self)->acceptor_loop();
  return nullptr;
}

void WorkerPool::worker_loop() {
  std::unique_lock lock(mutex_);
  ++idle_;
  worker_freed_.notify_all();
  for (;;) {
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left to serve
    int fd = queue_.front();
    queue_.pop_front();
    --idle_;
    ++busy_;
    lock.unlock();
    handler_(fd);  // owns and closes fd; never throws (the handler catches everything)
    lock.lock();
    --busy_;
    ++idle_;
    worker_freed_.notify_all();
  }
}

void WorkerPool::acceptor_loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Accept only when a worker can take the connection right away (see the header).
      worker_freed_.wait(lock, [&] { return !accepting_ || idle_ > queue_.size(); });
      if (!accepting_) return;
    }
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) {
      std::lock_guard lock(mutex_);
      if (!accepting_) return;
      std::uint64_t value;
      [[maybe_unused]] auto ignored = read(wake_fd_, &value, sizeof value);
      continue;
    }
    // The listening socket is non-blocking and shared: a sibling may win the race (EAGAIN).
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) poll(nullptr, 0, 100);  // let requests finish
      continue;
    }
    std::lock_guard lock(mutex_);
    queue_.push_back(fd);
    work_ready_.notify_one();
  }
}

void WorkerPool::stop_accepting() {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = write(wake_fd_, &one, sizeof one);
  worker_freed_.notify_all();
}

bool WorkerPool::drain(double seconds) {
  // The acceptor may be between accept4() and queueing that connection: wait for it to
  // leave (stop_accepting() woke it), or the pool would look drained and the process exit
  // with a connection nobody answers.
  if (acceptor_started_ && !acceptor_joined_) {
    pthread_join(acceptor_, nullptr);
    acceptor_joined_ = true;
  }
  std::unique_lock lock(mutex_);
  auto drained = [&] { return busy_ == 0 && queue_.empty(); };
  if (seconds <= 0) return drained();  // no grace: only say whether it is drained
  return worker_freed_.wait_for(lock, std::chrono::duration<double>(seconds), drained);
}

unsigned WorkerPool::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

}  // namespace gantry::daemon
