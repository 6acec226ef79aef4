#include "gantry/peer_check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "gantry/scoped_fd.hpp"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; Debian 12's headers predate it
#endif

namespace gantry {
namespace {

bool parse_pid(std::string_view field, pid_t& out) {
  long value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc{} || end != field.data() + field.size()) return false;
  out = static_cast<pid_t>(value);
  return true;
}

// The next space-separated field of `rest`, consumed.
std::string_view next_field(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const std::size_t end = std::min(rest.find(' '), rest.size());
  const std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

// A pidfd for the process that connected (SO_PEERPIDFD), or for the one that holds its pid
// now (pidfd_open); -1 when the kernel has neither (then the stat read is taken as it is).
int peer_pidfd(int fd, pid_t pid, bool use_peer_pidfd, bool& gone) {
  gone = false;
  if (use_peer_pidfd) {
    int pidfd = -1;
    socklen_t length = sizeof pidfd;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) == 0 && pidfd >= 0) {
      fcntl(pidfd, F_SETFD, FD_CLOEXEC);  // it has it already; a fork must never keep one
      return pidfd;
    }
    if (errno == ESRCH) {  // the peer already exited
      gone = true;
      return -1;
    }
  }
#ifdef SYS_pidfd_open
  const long pidfd = syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0) return static_cast<int>(pidfd);
  if (errno == ESRCH) gone = true;
#endif
  return -1;
}

// A pidfd polls readable once its process has exited.
bool still_running(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int ready;
  do ready = poll(&p, 1, 0);
  while (ready < 0 && errno == EINTR);
  return ready == 0;
}

std::string printable(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

}  // namespace

bool parse_proc_stat(std::string_view text, pid_t& ppid, pid_t& session, std::string& name) {
  const std::size_t open = text.find(" (");
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2) return false;
  name = printable(text.substr(open + 2, close - open - 2));
  std::string_view rest = text.substr(close + 1);
  next_field(rest);  // state
  pid_t pgrp = 0;
  return parse_pid(next_field(rest), ppid) && parse_pid(next_field(rest), pgrp) &&
         parse_pid(next_field(rest), session);
}

PeerProcess identify_peer(int fd, bool use_peer_pidfd) {
  PeerProcess peer;
  ucred cred{};
  socklen_t length = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0 || cred.pid <= 0) {
    peer.error = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
    return peer;
  }
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  bool gone = false;
  const ScopedFd pidfd(peer_pidfd(fd, cred.pid, use_peer_pidfd, gone));
  if (gone) {
    peer.alive = false;
    return peer;
  }
  char buffer[1024];
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", static_cast<long>(cred.pid));
  const ScopedFd stat_fd(open(path, O_RDONLY | O_CLOEXEC));
  ssize_t n = -1;
  if (stat_fd.get() >= 0) {
    do n = read(stat_fd.get(), buffer, sizeof buffer);
    while (n < 0 && errno == EINTR);
  }
  if (n <= 0) {
    const int error = n < 0 ? errno : EIO;
    if (stat_fd.get() < 0 && (error == ENOENT || error == EACCES)) {
      // Gone - or hidden: /proc mounted with hidepid= shows a user only its own processes.
      // The pidfd tells the two apart (without one, take it as hidden).
      if (pidfd.get() >= 0 && !still_running(pidfd.get())) peer.alive = false;
      else peer.hidden = true;
    } else {
      peer.error = std::string("cannot read ") + path + ": " + std::strerror(error);
    }
    return peer;
  }
  if (!parse_proc_stat(std::string_view(buffer, static_cast<std::size_t>(n)), peer.ppid, peer.session,
                       peer.name)) {
    peer.error = std::string(path) + " is not in the expected format";
    return peer;
  }
  // Read after the stat: what was read belonged to the process the pidfd pins.
  if (pidfd.get() >= 0 && !still_running(pidfd.get())) peer.alive = false;
  return peer;
}

std::string refusal_reason(const PeerProcess& peer, const PeerRule& rule) {
  if (!peer.error.empty()) return peer.error;
  if (!peer.alive) return "it exited before it could be checked";
  if (peer.hidden) {
    // hidepid=: this daemon cannot see other users' processes, so only the uid can be
    // checked. A hidden peer runs as another user than this daemon; the secret still
    // keeps other groups out (docs/security.md).
    if (peer.uid == rule.uid) return {};
    return "it runs as uid " + std::to_string(peer.uid) + ", not as uid " + std::to_string(rule.uid) +
           " (Apache's User or socket-user=)";
  }
  // Apache's parent itself serves requests in single-process mode (httpd -X).
  if (peer.ppid != rule.apache_parent && peer.pid != rule.apache_parent)
    return "its parent is pid " + std::to_string(peer.ppid) + ", not Apache's parent " +
           std::to_string(rule.apache_parent) + " (a process forked by an application, or not of this server)";
  if (peer.session != rule.apache_session)
    return "it runs in session " + std::to_string(peer.session) + ", not Apache's session " +
           std::to_string(rule.apache_session) + " (a daemon process: they leave Apache's session at start)";
  if (peer.uid != rule.uid)
    return "it runs as uid " + std::to_string(peer.uid) + ", not as uid " + std::to_string(rule.uid) +
           " (Apache's User or socket-user=), which Apache's children use";
  return {};
}

RefusalLog::Decision RefusalLog::note(pid_t pid, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Decision d;
  if (std::find(seen_.begin(), seen_.end(), pid) != seen_.end()) {
    ++suppressed_;
    return d;
  }
  if (now - window_start_ >= window_ || window_start_ == Clock::time_point{}) {
    window_start_ = now;
    lines_in_window_ = 0;
  }
  if (lines_in_window_ >= burst_) {
    ++suppressed_;
    return d;
  }
  ++lines_in_window_;
  if (seen_.size() < remembered_) {
    seen_.push_back(pid);
  } else if (remembered_) {
    seen_[next_] = pid;
    next_ = (next_ + 1) % remembered_;
  }
  d.log = true;
  d.suppressed = suppressed_;
  suppressed_ = 0;
  return d;
}

}  // namespace gantry
