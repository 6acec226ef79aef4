#pragma once
// The gate a freshly cloned process waits at until its creator has sent the REPLY: Apache's
// parent is blocked until then, and on busy CPUs a new process that runs first would delay
// the reply by milliseconds (docs/spawner.md, "Costs"). Without a pipe, nobody waits.
//
// Used between clone() and the new process's start: everything here is a plain close() or
// read(), async-signal-safe.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "gantry/scoped_fd.hpp"

namespace gantry::module {

class LaunchGate {
 public:
  LaunchGate() noexcept : pipe_(make_pipe(O_CLOEXEC)) {}
  LaunchGate(const LaunchGate&) = delete;
  LaunchGate& operator=(const LaunchGate&) = delete;
  // The creator's destructor opens the gate (closes both ends) if open() was not called.

  // In the new process: blocks until the creator opened the gate (EOF), then forgets it.
  void pass() noexcept {
    pipe_.second.reset();  // this process's copy of the write end must not keep it shut
    char byte;
    while (pipe_.first && read(pipe_.first.get(), &byte, 1) < 0 && errno == EINTR) {
    }
    pipe_.first.reset();
  }
  // In the creator, after the reply.
  void open() noexcept {
    pipe_.second.reset();
    pipe_.first.reset();
  }

 private:
  ScopedFdPair pipe_;  // first: read end (the new process waits on it), second: write end
};

}  // namespace gantry::module
