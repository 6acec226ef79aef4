#pragma once
// Resolving a daemon group's accounts (user=, group=, supplementary-groups=, socket-user=,
// script-user=, script-group=, home=) against the system and Apache's User/Group. Done in
// check_config and again in post_config, so a misspelt name stops `apachectl -t` instead
// of a daemon process failing at start.
#include <string>
#include <vector>

#include "daemon_runtime.hpp"

namespace gantry::module {

struct IdentityResult {
  std::string error;                  // non-empty: a complete "GANTRYnnnn: ..." line
  std::vector<std::string> warnings;  // complete lines, logged at warning level
};

// Fills `group.identity` and the script-user/script-group checks of `group`.
IdentityResult resolve_daemon_identity(DaemonGroupRuntime& group);

// Logs, at each start, the groups that share a uid with Apache's children or with each
// other (gantry/tenant_warnings.hpp says why, and why one group alone is not warned about).
void warn_about_shared_users(server_rec* s, const std::vector<DaemonGroupRuntime>& groups);

}  // namespace gantry::module
