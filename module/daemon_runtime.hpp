#pragma once
// Daemon mode as one server generation runs it: every WSGIDaemonProcess group with its
// resolved identity, its listening socket and the limits the Apache children apply when
// they forward a request. Built by the supervisor in the parent's post_config (real pass
// only), read-only afterwards, and inherited by the Apache children the MPM forks next, so
// the request path reads it without locks.
//
//   const DaemonGroupRuntime* group = find_daemon_group_runtime("myapp");
//   -> group->socket_path, group->limits, group->secret, ...
#include <sys/types.h>

#include <httpd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "daemon_table.hpp"
#include "gantry/channel.hpp"
#include "gantry/daemon_api.hpp"
#include "gantry/daemon_forwarder.hpp"
#include "gantry/daemon_options.hpp"
#include "gantry/protocol.hpp"
#include "gantry/scoped_fd.hpp"
#include "secret_memory.hpp"

namespace gantry::module {

// Who a group's processes run as, resolved from user=/group=/supplementary-groups= and
// Apache's User/Group at configuration time (names that do not resolve are config errors).
struct DaemonIdentity {
  bool switch_user = false;   // Apache's parent runs as root: set*id() in the daemon
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user_name;      // for initgroups() and USER/LOGNAME
  std::string home;           // home= or the user's home directory ("" = unknown)
  bool home_given = false;    // home= was given: failing to chdir() there is fatal
  // Start in `home`: home= was given, or user= names an account other than Apache's User
  // (mod_wsgi 4.9's rule); otherwise the daemon keeps the directory Apache started in.
  bool enter_home = false;
  std::vector<gid_t> extra_groups;  // supplementary-groups=, added to the user's own
  uid_t socket_uid = 0;       // owner of the listening socket (socket-user=, else User)
};

struct DaemonGroupRuntime {
  DaemonGroupRuntime() = default;
  // Movable, not copyable: it owns the group's listening socket.
  DaemonGroupRuntime(DaemonGroupRuntime&&) = default;
  DaemonGroupRuntime& operator=(DaemonGroupRuntime&&) = default;
  // No copy of a secret is left behind in freed memory (docs/security.md).
  ~DaemonGroupRuntime() { forget_secret(secret); }

  const DaemonGroupDecl* decl = nullptr;  // the parsed directive (lives in pconf)
  const DaemonOptions& options() const { return decl->options; }
  const std::string& name() const { return decl->name; }
  unsigned id = 0;                // 1-based position, part of the socket name as in mod_wsgi
  std::string socket_path;
  ScopedFd listen_fd;             // parent and this group's daemons only
  DaemonIdentity identity;
  std::size_t first_slot = 0;     // this group's records in the status table
  unsigned processes = 1;
  ServerTraits traits;            // wsgi.multithread/multiprocess for this group
  std::vector<gantry::PreloadScript> preload;  // WSGIImportScript etc. into this group
  // What an Apache child applies when forwarding.
  std::chrono::milliseconds connect_timeout{15000};
  ForwardLimits limits;
  bool check_script_user = false;
  uid_t script_uid = 0;
  bool check_script_group = false;
  gid_t script_gid = 0;
  // This group's own secret: every HELLO to its socket must carry it. Apache's children
  // know every group's; a daemon process is launched with its own group's only, so code
  // in one group cannot talk to another group's daemons (docs/security.md).
  protocol::Secret secret{};
};

struct DaemonGeneration {
  std::uint32_t generation = 0;   // Apache's MPM generation (0 at first start)
  pid_t parent_pid = 0;
  DaemonTable* table = nullptr;
  std::vector<DaemonGroupRuntime> groups;

  const DaemonGroupRuntime* find(std::string_view name) const {
    for (const auto& g : groups)
      if (g.name() == name) return &g;
    return nullptr;
  }
};

// This process's view of the current generation; null when daemon mode is not in use
// (no WSGIDaemonProcess, a config dry-run, or before post_config).
const DaemonGeneration* daemon_generation();
const DaemonGroupRuntime* find_daemon_group_runtime(std::string_view name);

}  // namespace gantry::module
