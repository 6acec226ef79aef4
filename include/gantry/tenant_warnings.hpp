#pragma once
// The start-up warnings about daemon groups that share a user (docs/security.md).
//
// Distinct user= accounts are what separates one group's applications from another's:
// the file system, signals and ptrace all go by uid. Two groups with one uid can kill each
// other's processes and read and change each other's files (code included); a group that
// runs as Apache's own User can in addition signal Apache's children, and read their memory
// where it is readable (CoreDumpDirectory makes them dumpable) - memory that holds every
// group's secret. mod_wsgi's default (user= unset: Apache's User) stays what it is; with a
// single group there is no other tenant to be kept apart from, so nothing is logged then.
//
//   for (const std::string& line : shared_uid_warnings(groups, apache_uid, "www-data"))
//     log at warning level
#include <sys/types.h>

#include <string>
#include <vector>

namespace gantry {

struct GroupAccount {
  std::string group;  // WSGIDaemonProcess name
  uid_t uid = 0;
  std::string user;   // for the message ("#1234" when the uid has no name)
};

// Complete log lines (GANTRY0501: groups running as Apache's User, GANTRY0502: groups
// sharing another uid); none when there are fewer than two groups.
std::vector<std::string> shared_uid_warnings(const std::vector<GroupAccount>& groups, uid_t apache_uid,
                                             const std::string& apache_user);

}  // namespace gantry
