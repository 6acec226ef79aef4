#pragma once
// The gate a freshly cloned process waits at until its creator has sent the REPLY: Apache's
// parent is blocked until then, and on busy CPUs a new process that runs first would delay
// the reply by milliseconds (docs/spawner.md, "Costs"). Without a pipe, nobody waits.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace gantry::module {

class LaunchGate {
 public:
  LaunchGate() {
    if (pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~LaunchGate() { open(); }
  LaunchGate(const LaunchGate&) = delete;
  LaunchGate& operator=(const LaunchGate&) = delete;

  // In the new process: blocks until the creator opened the gate (EOF), then forgets it.
  void pass() noexcept {
    if (fds_[1] >= 0) close(fds_[1]);
    char byte;
    while (fds_[0] >= 0 && read(fds_[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (fds_[0] >= 0) close(fds_[0]);
    fds_[0] = fds_[1] = -1;
  }
  // In the creator, after the reply.
  void open() noexcept {
    for (int& fd : fds_)
      if (fd >= 0) close(fd), fd = -1;
  }

 private:
  int fds_[2];
};

}  // namespace gantry::module
