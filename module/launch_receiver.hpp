#pragma once
// Receiving one LAUNCH (gantry/spawn_protocol.hpp) on a SOCK_SEQPACKET socket with
// SO_PASSCRED: the spawner's and a group template's shared first half of a launch. Checks
// that the kernel-supplied sender is Apache's parent, decodes, matches the descriptors
// against the message and refuses (with a REPLY) whatever does not pass.
#include <sys/types.h>

#include <string_view>
#include <vector>

#include "daemon_spawner.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry/spawn_protocol.hpp"

namespace gantry::module {

struct ReceivedLaunch {
  enum class Result { launch, refused, interrupted, closed, failed } result = Result::failed;
  spawn::LaunchRequest request;
  LaunchDescriptors fds;
  // Every descriptor that came with it, owned here; `fds` names the same ones (a view).
  std::vector<ScopedFd> raw_fds;
  std::size_t bytes = 0;      // how much of the buffer the message used (to wipe it)

  // Takes `fd` (one of raw_fds) out of this launch: the caller owns it now.
  ScopedFd take(int fd) noexcept;
};

// Receives one message into `buffer` (kMaxLaunch + 1 bytes). `check` may refuse a decoded
// launch by returning a status other than `started` (it is then answered and wiped).
ReceivedLaunch receive_launch(int sock, pid_t parent, std::vector<char>& buffer,
                              spawn::SpawnStatus (*check)(const spawn::LaunchRequest&));

void send_launch_reply(int sock, spawn::SpawnStatus status, pid_t pid, int error) noexcept;

// After the clone: nothing of the launch (descriptors, secret, bytes) stays in this process.
void forget_launch(ReceivedLaunch& launch, std::vector<char>& buffer) noexcept;

}  // namespace gantry::module
