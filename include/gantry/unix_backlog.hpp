#pragma once
// How many connections wait in a listening UNIX socket's backlog, from outside the process
// that listens: the kernel's sock_diag netlink interface (UNIX_DIAG with UDIAG_SHOW_RQLEN
// reports, for a listening socket, the connections queued but not accepted yet and the
// backlog limit). SIOCINQ cannot tell (it refuses listening sockets), /proc/net/unix does
// not show it, and asking the daemon would cost the daemon. Needs no privilege.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>

namespace gantry {

struct UnixBacklog {
  std::uint32_t queued = 0;  // connections not accepted yet
  std::uint32_t limit = 0;   // listen() backlog
};

// Every listening UNIX socket bound to a path in this network namespace, by the inode of
// that path (stat(path).st_ino). nullopt if the kernel would not answer (no unix_diag).
std::optional<std::map<std::uint64_t, UnixBacklog>> listening_unix_backlogs();

}  // namespace gantry
