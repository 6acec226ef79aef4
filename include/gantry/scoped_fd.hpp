#pragma once
// A file descriptor this scope owns: closed when it ends, or when replaced. Movable, so an
// owned descriptor can be returned from a function or kept in a container; release() hands
// it on to code that takes ownership itself (an APR pool cleanup, a struct with its own
// close path) without a window where nobody would close it.
//
// Every descriptor Gantry owns lives in one (in a daemon process, in a fork_guard::GuardedFd
// when a fork must not keep it). Plain ints remain only where an owner cannot have a
// destructor, each commented where it is:
//   - records that outlive this module's code across a restart (the spawner's state in the
//     process pool, SlotPages::Raw of retired generations): close_held() below;
//   - descriptors held for the life of a process and never closed (the daemon's statm
//     reader, fork_guard's inert pipe end, signal_relay's pipe that a signal handler
//     writes to; the spawner's and a template's control
//     sockets, closed by number in the processes they clone);
//   - descriptors handed to APR (a request pool cleanup closes a file bucket's copy);
//   - the sweeps that close what a new process inherited, by number (/proc/self/fd);
//   - views that only name a descriptor someone else owns (LaunchDescriptors, the frame
//     reader's and writer's socket, DaemonRunSpec::listen_fd).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace gantry {

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) noexcept : fd_(fd) {}
  ~ScopedFd() { reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }
  // Gives up ownership: the caller closes the returned descriptor (-1 if none was held).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Both ends of a pipe or socket pair, owned. Empty ends (and errno set) when it failed.
struct ScopedFdPair {
  ScopedFd first;   // a pipe's read end
  ScopedFd second;  // a pipe's write end
  explicit operator bool() const noexcept { return first.valid() && second.valid(); }
};

// pipe2(flags).
inline ScopedFdPair make_pipe(int flags) noexcept {
  int fds[2];
  if (::pipe2(fds, flags) != 0) return {};
  return {ScopedFd(fds[0]), ScopedFd(fds[1])};
}

// socketpair(domain, type, 0).
inline ScopedFdPair make_socket_pair(int domain, int type) noexcept {
  int fds[2];
  if (::socketpair(domain, type, 0, fds) != 0) return {};
  return {ScopedFd(fds[0]), ScopedFd(fds[1])};
}

// For a descriptor kept as a plain int where a ScopedFd cannot live (a record in an APR
// pool that outlives this module's code across a restart, a view shared with code that
// consumes it): closes it if held and marks it so, so it is never closed twice.
inline void close_held(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace gantry
