#include "launch_receiver.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "build_id.hpp"

namespace gantry::module {

void send_launch_reply(int sock, spawn::SpawnStatus status, pid_t pid, int error) noexcept {
  const auto bytes = spawn::encode_reply({status, pid, error});
  // Never blocks in practice (16 bytes, a reader waiting); a parent that is gone: EPIPE.
  (void)!send(sock, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

ScopedFd ReceivedLaunch::take(int fd) noexcept {
  for (auto it = raw_fds.begin(); it != raw_fds.end(); ++it) {
    if (it->get() != fd) continue;
    ScopedFd taken(std::move(*it));
    raw_fds.erase(it);
    return taken;
  }
  return ScopedFd();
}

void forget_launch(ReceivedLaunch& launch, std::vector<char>& buffer) noexcept {
  launch.raw_fds.clear();  // closes them
  explicit_bzero(buffer.data(), launch.bytes);
  explicit_bzero(launch.request.secret.data(), launch.request.secret.size());
}

ReceivedLaunch receive_launch(int sock, pid_t parent, std::vector<char>& buffer,
                              spawn::SpawnStatus (*check)(const spawn::LaunchRequest&)) {
  ReceivedLaunch got;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * spawn::kMaxDescriptors) + CMSG_SPACE(sizeof(ucred))];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n == 0) {
    got.result = ReceivedLaunch::Result::closed;  // the parent closed its end: it is gone
    return got;
  }
  if (n < 0) {
    got.result = errno == EINTR ? ReceivedLaunch::Result::interrupted : ReceivedLaunch::Result::failed;
    return got;
  }
  got.bytes = static_cast<std::size_t>(n);
  bool from_parent = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        ScopedFd owned(fd);  // closed even if the vector cannot grow
        got.raw_fds.push_back(std::move(owned));
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      from_parent = cred.pid == parent;  // the kernel vouches for the sender's pid
    }
  }
  auto refuse = [&](spawn::SpawnStatus status, int error) {
    forget_launch(got, buffer);
    send_launch_reply(sock, status, 0, error);
    got.result = ReceivedLaunch::Result::refused;
    return std::move(got);  // it owns descriptors: moved, never copied
  };
  // Only Apache's parent may ask (an Apache child that kept the socket would be asking a
  // root process to start code as any user).
  if (!from_parent || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return refuse(spawn::SpawnStatus::malformed, EPERM);
  try {
    // Decoded into a local (no temporary), copied into place, the local's secret wiped: no
    // copy of the secret is left behind on this stack (docs/security.md).
    spawn::LaunchRequest decoded = spawn::decode_launch(std::string_view(buffer.data(), got.bytes));
    got.request = std::move(decoded);
    explicit_bzero(decoded.secret.data(), decoded.secret.size());
  } catch (const protocol::ProtocolError& e) {
    return refuse(e.kind() == protocol::ProtocolError::Kind::bad_version ? spawn::SpawnStatus::bad_version
                                                                          : spawn::SpawnStatus::malformed,
                  EINVAL);
  }
  // A launch from a parent that loaded another build of this module (a graceful restart
  // after an upgrade): this code must not start its processes (docs/spawner.md).
  static const std::string own_build = this_build_id();
  if (got.request.build != own_build) return refuse(spawn::SpawnStatus::bad_version, 0);
  if (got.raw_fds.size() != got.request.descriptor_count()) return refuse(spawn::SpawnStatus::descriptors, EINVAL);
  if (check)
    if (const spawn::SpawnStatus verdict = check(got.request); verdict != spawn::SpawnStatus::started)
      return refuse(verdict, EINVAL);
  std::size_t next = 0;
  auto take = [&](std::uint8_t bit) { return (got.request.descriptors & bit) ? got.raw_fds[next++].get() : -1; };
  got.fds.listen = take(spawn::kFdListen);
  got.fds.table = take(spawn::kFdTable);
  got.fds.handover = take(spawn::kFdHandover);
  got.fds.error_log = take(spawn::kFdErrorLog);
  got.fds.python_object = take(spawn::kFdPythonObject);
  got.fds.scoreboard = take(spawn::kFdScoreboard);
  got.fds.control = take(spawn::kFdControl);
  got.result = ReceivedLaunch::Result::launch;
  return got;
}

}  // namespace gantry::module
