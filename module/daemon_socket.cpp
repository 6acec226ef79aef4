#include "daemon_socket.hpp"

#include <http_config.h>
#include <http_log.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "gantry/scoped_fd.hpp"
#include "gantry_hooks.h"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {

// send-buffer-size= / receive-buffer-size=. A size the kernel refuses is not worth failing
// for (the socket works with its default size): said once per process, since every request
// of an Apache child would say it again.
void apply_socket_buffer_sizes(int fd, const DaemonOptions& o, const std::string& group_name) {
  static std::atomic<bool> warned{false};
  const auto set = [&](int option, std::size_t bytes, const char* name) {
    if (bytes == 0) return;
    const int size = static_cast<int>(bytes);
    if (setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) == 0) return;
    const int error = errno;
    if (!warned.exchange(true))
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, nullptr,
                   "GANTRY0522: setsockopt(%s=%d) on a socket of daemon group '%s' failed:"
                   " %s; it keeps the kernel's default size (said once per process)",
                   name, size, group_name.c_str(), std::strerror(error));
  };
  set(SO_SNDBUF, o.send_buffer_size, "SO_SNDBUF");
  set(SO_RCVBUF, o.receive_buffer_size, "SO_RCVBUF");
}

std::string daemon_socket_path(const GlobalConfig& global, apr_pool_t* ptemp, pid_t parent,
                        std::uint32_t generation, unsigned id) {
  // mod_wsgi's naming: PREFIX.PID.GENERATION.ID.sock, PREFIX = WSGISocketPrefix or the
  // runtime directory's "wsgi" (/var/run/apache2/wsgi.1234.0.1.sock on Debian).
  std::string prefix = global.socket_prefix;
  if (prefix.empty()) {
    const char* dir = ap_runtime_dir_relative(ptemp, "wsgi");
    prefix = dir ? dir : "wsgi";
  }
  return prefix + "." + std::to_string(parent) + "." + std::to_string(generation) + "." +
         std::to_string(id) + ".sock";
}

bool open_daemon_socket(server_rec* s, DaemonGroupRuntime& g) {
  const DaemonOptions& o = g.options();
  auto fail = [&](const char* step, int error, const std::string& fix) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                 "GANTRY0052: daemon group '%s': cannot %s the socket %s: %s; %s",
                 g.name().c_str(), step, g.socket_path.c_str(), std::strerror(error), fix.c_str());
    return false;
  };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (g.socket_path.size() >= sizeof(address.sun_path))
    return fail("create", ENAMETOOLONG,
                "UNIX socket paths are limited to " + std::to_string(sizeof(address.sun_path) - 1) +
                    " bytes: set WSGISocketPrefix to a shorter directory");
  std::memcpy(address.sun_path, g.socket_path.c_str(), g.socket_path.size() + 1);

  // A socket left by a crashed Apache with the same pid is stale; anything else at that
  // path is not ours to delete.
  struct stat st{};
  if (lstat(g.socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("create", EEXIST, "something that is not a socket is in the way; remove it or"
                                    " change WSGISocketPrefix");
    unlink(g.socket_path.c_str());
  }
  ScopedFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));  // closed on every failure
  if (!fd) return fail("create", errno, "the system is out of descriptors or memory");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    return fail("bind", error,
                "the directory must exist and be writable by the user Apache starts as;"
                " set WSGISocketPrefix (for example WSGISocketPrefix /var/run/wsgi)");
  }
  // Only Apache's children (socket-user=, default User) may connect; the daemon processes
  // inherit the listening descriptor and need no permission on the path.
  if (geteuid() == 0 && chown(g.socket_path.c_str(), g.identity.socket_uid, -1) != 0) {
    const int error = errno;
    unlink(g.socket_path.c_str());
    return fail("chown", error, "check socket-user= and Apache's User");
  }
  if (chmod(g.socket_path.c_str(), 0600) != 0) {
    const int error = errno;
    unlink(g.socket_path.c_str());
    return fail("chmod", error, "check the file system holding WSGISocketPrefix");
  }
  apply_socket_buffer_sizes(fd.get(), o, g.name());
  if (listen(fd.get(), static_cast<int>(o.listen_backlog)) != 0) {
    const int error = errno;
    unlink(g.socket_path.c_str());
    return fail("listen on", error, "check listen-backlog=");
  }
  g.listen_fd = std::move(fd);
  return true;
}

}  // namespace gantry::module
