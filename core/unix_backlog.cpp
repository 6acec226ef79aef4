#include "gantry/unix_backlog.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gantry/scoped_fd.hpp"

namespace gantry {
namespace {

constexpr int kTcpListen = 10;  // TCP_LISTEN, the state the kernel gives listening unix sockets

}  // namespace

std::optional<std::map<std::uint64_t, UnixBacklog>> listening_unix_backlogs() {
  ScopedFd sock(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (sock.get() < 0) return std::nullopt;
  timeval timeout{1, 0};  // a page render must never hang on this
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  struct {
    nlmsghdr header;
    unix_diag_req request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = AF_UNIX;
  message.request.udiag_states = 1u << kTcpListen;
  message.request.udiag_show = UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(sock.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return std::nullopt;

  std::map<std::uint64_t, UnixBacklog> found;
  alignas(nlmsghdr) char buffer[32768];
  for (int rounds = 0; rounds < 10000; ++rounds) {
    const ssize_t n = recv(sock.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return found;
      if (h->nlmsg_type == NLMSG_ERROR) return std::nullopt;
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(unix_diag_msg))) continue;
      const auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
      int attr_left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
      auto* attr = reinterpret_cast<rtattr*>(const_cast<unix_diag_msg*>(msg) + 1);
      std::optional<std::uint64_t> inode;
      std::optional<UnixBacklog> backlog;
      for (; RTA_OK(attr, attr_left); attr = RTA_NEXT(attr, attr_left)) {
        if (attr->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(attr) >= sizeof(unix_diag_vfs)) {
          unix_diag_vfs vfs;
          std::memcpy(&vfs, RTA_DATA(attr), sizeof vfs);
          inode = vfs.udiag_vfs_ino;
        } else if (attr->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(attr) >= sizeof(unix_diag_rqlen)) {
          unix_diag_rqlen rq;
          std::memcpy(&rq, RTA_DATA(attr), sizeof rq);
          backlog = UnixBacklog{rq.udiag_rqueue, rq.udiag_wqueue};
        }
      }
      if (inode && backlog) found[*inode] = *backlog;
    }
  }
  return std::nullopt;
}

}  // namespace gantry
