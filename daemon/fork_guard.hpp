#pragma once
// What becomes of a process an application forks from a daemon process (os.fork(),
// multiprocessing's "fork" start method, a C extension's fork()).
//
// Such a child is a copy of the daemon with one thread, the one that forked. It may run
// the application's own code (multiprocessing's children, a fork that exec()s, a child that
// sleeps), but it is outside the supervisor's reach, so it must never serve the group.
// Without this guard a child that returned from the application went back to the worker
// loop and accepted connections on the group's socket, and once Apache stopped, spun at
// 100 % CPU on the pool's stop eventfd (shared with its parent, level-triggered).
//
// In the child, before anything else runs (a pthread_atfork handler: every fork() through
// glibc, Python's os.fork() included; it does only async-signal-safe system calls):
//   - every descriptor registered with guard() - the listening socket, the pool's stop
//     eventfd and epoll instances, the connections of the requests in flight - is replaced
//     with dup3() by an inert descriptor (the read end of a pipe whose write end is
//     closed): the numbers stay taken, so a file the child opens later can never land
//     there and be taken for one of them, and I/O on them fails at once (reads see end of
//     file, writes EBADF, socket calls ENOTSOCK) instead of reaching an Apache child;
//   - the process is marked as a fork.
// The Gantry code such a child comes back to (the application returns to its request, a
// preload that forked returns, the worker loop) calls leave_if_fork(): the child logs one
// line and ends with _exit(0) - no Python finalisation (it would wait for threads that
// exist only in the parent), no exit note in the status table, no response. A child that
// exec()s or leaves with os._exit() never comes back, and is not affected. (Signals: the
// daemon blocks none, and its handlers give a fork the default actions - signal_relay.hpp -
// so such a child ends on SIGTERM like any process.)
//
//   fork_guard::install(spec.logger, spec.group, capacity);  // once, early
//   fork_guard::guard(listen_fd);
//   ... in Gantry code that application code returns to:
//   fork_guard::leave_if_fork("a request");
#include <string>
#include <utility>

#include "gantry/log.hpp"
#include "gantry/scoped_fd.hpp"

namespace gantry::daemon::fork_guard {

// Registers the at-fork handler (once per process) for `capacity` guarded descriptors at
// most at a time. Throws std::system_error when it cannot.
void install(Logger* logger, const std::string& group, unsigned capacity);

// A descriptor a fork must not keep; unguard() it before closing it. Lock-free. A
// descriptor that finds no free place stays unguarded (the capacity covers every
// descriptor the pool and its requests hold at once).
void guard(int fd) noexcept;
void unguard(int fd) noexcept;

// An owned descriptor, guarded for as long as it is open: unguarded before it is closed,
// so that once its number is free a fork never covers whatever takes the number next.
// Moving it moves the guard with the number.
class GuardedFd {
 public:
  GuardedFd() = default;
  explicit GuardedFd(ScopedFd fd) noexcept : fd_(std::move(fd)) { guard(fd_.get()); }
  ~GuardedFd() { reset(); }
  GuardedFd(GuardedFd&&) noexcept = default;
  GuardedFd& operator=(GuardedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::move(other.fd_);
    }
    return *this;
  }

  int get() const noexcept { return fd_.get(); }
  void reset() noexcept {
    if (!fd_) return;
    unguard(fd_.get());  // first: the number is free again once closed
    fd_.reset();
  }

 private:
  ScopedFd fd_;
};

// True in a process forked from this daemon process.
bool in_fork() noexcept;

// In a fork: says so in the log (once) and ends the process. Otherwise does nothing.
// `where`: what the fork came back to ("a request", "the worker loop", ...).
void leave_if_fork(const char* where) noexcept;

}  // namespace gantry::daemon::fork_guard
