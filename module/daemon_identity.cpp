#include "daemon_identity.hpp"

#include <http_log.h>
#include <unixd.h>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <optional>

#include "gantry/tenant_warnings.hpp"
#include "gantry_hooks.h"
#include "gantry/value_parse.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// "name" or "#id". nullopt = no such account.
std::optional<uid_t> find_user(const std::string& spec) {
  if (!spec.empty() && spec[0] == '#') {
    auto id = parse_whole_number(std::string_view(spec).substr(1));
    if (!id || *id < 0) return std::nullopt;
    return static_cast<uid_t>(*id);
  }
  if (passwd* pw = getpwnam(spec.c_str())) return pw->pw_uid;
  return std::nullopt;
}

std::optional<gid_t> find_group(const std::string& spec) {
  if (!spec.empty() && spec[0] == '#') {
    auto id = parse_whole_number(std::string_view(spec).substr(1));
    if (!id || *id < 0) return std::nullopt;
    return static_cast<gid_t>(*id);
  }
  if (group* gr = getgrnam(spec.c_str())) return gr->gr_gid;
  return std::nullopt;
}

std::string prefix(const DaemonGroupRuntime& g, const char* option, const std::string& value) {
  return "GANTRY0050: WSGIDaemonProcess " + g.name() + ": " + option + "=" + value + ": ";
}

}  // namespace

IdentityResult resolve_daemon_identity(DaemonGroupRuntime& g) {
  IdentityResult result;
  const DaemonOptions& o = g.options();
  DaemonIdentity& id = g.identity;
  id = DaemonIdentity{};
  id.switch_user = geteuid() == 0;

  if (!id.switch_user) {
    // As mod_wsgi: without root there is nobody else to become.
    id.uid = geteuid();
    id.gid = getegid();
    if (!o.user.empty() || !o.group.empty() || !o.supplementary_groups.empty())
      result.warnings.push_back(
          "GANTRY0051: WSGIDaemonProcess " + g.name() +
          ": user=, group= and supplementary-groups= are ignored because Apache was not started"
          " as root; the daemon processes run as uid " + std::to_string(id.uid));
  } else {
    if (o.user.empty()) {
      id.uid = ap_unixd_config.user_id;
    } else if (auto uid = find_user(o.user)) {
      id.uid = *uid;
    } else {
      result.error = prefix(g, "user", o.user) +
                     "no such user on this system; give an existing account name or #uid";
      return result;
    }
    if (o.group.empty()) {
      id.gid = ap_unixd_config.group_id;
    } else if (auto gid = find_group(o.group)) {
      id.gid = *gid;
    } else {
      result.error = prefix(g, "group", o.group) +
                     "no such group on this system; give an existing group name or #gid";
      return result;
    }
    for (const auto& name : o.supplementary_groups) {
      auto gid = find_group(name);
      if (!gid) {
        result.error = prefix(g, "supplementary-groups", name) +
                       "no such group on this system; list existing group names or #gids,"
                       " separated by commas";
        return result;
      }
      id.extra_groups.push_back(*gid);
    }
    if (id.uid == 0) {
      result.error = prefix(g, "user", o.user.empty() ? std::string("(Apache's User)") : o.user) +
                     "refusing to run a WSGI application as root; set user= to an"
                     " unprivileged account";
      return result;
    }
  }

  if (passwd* pw = getpwuid(id.uid)) {
    id.user_name = pw->pw_name;
    id.home = pw->pw_dir ? pw->pw_dir : "";
  } else {
    id.user_name = "#" + std::to_string(id.uid);
  }
  if (!o.home.empty()) {
    id.home = o.home;
    id.home_given = true;
  }
  id.enter_home =
      id.home_given || (id.switch_user && !o.user.empty() && id.uid != ap_unixd_config.user_id);

  id.socket_uid = id.switch_user ? ap_unixd_config.user_id : geteuid();
  if (!o.socket_user.empty()) {
    auto uid = find_user(o.socket_user);
    if (!uid) {
      result.error = prefix(g, "socket-user", o.socket_user) +
                     "no such user on this system; it must be the account Apache's children"
                     " run as";
      return result;
    }
    id.socket_uid = *uid;
  }

  g.check_script_user = !o.script_user.empty();
  if (g.check_script_user) {
    auto uid = find_user(o.script_user);
    if (!uid) {
      result.error = prefix(g, "script-user", o.script_user) + "no such user on this system";
      return result;
    }
    g.script_uid = *uid;
  }
  g.check_script_group = !o.script_group.empty();
  if (g.check_script_group) {
    auto gid = find_group(o.script_group);
    if (!gid) {
      result.error = prefix(g, "script-group", o.script_group) + "no such group on this system";
      return result;
    }
    g.script_gid = *gid;
  }
  return result;
}

void warn_about_shared_users(server_rec* s, const std::vector<DaemonGroupRuntime>& groups) {
  // Apache's children run as User when Apache starts as root, else as whoever started it.
  const uid_t apache_uid = geteuid() == 0 ? ap_unixd_config.user_id : geteuid();
  std::vector<GroupAccount> accounts;
  for (const DaemonGroupRuntime& g : groups)
    accounts.push_back({g.name(), g.identity.uid, g.identity.user_name});
  const passwd* pw = getpwuid(apache_uid);
  const std::string apache_user = pw ? pw->pw_name : "#" + std::to_string(apache_uid);
  for (const std::string& line : shared_uid_warnings(accounts, apache_uid, apache_user))
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s", line.c_str());
}

}  // namespace gantry::module
