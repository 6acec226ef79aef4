#include "gantry/tenant_warnings.hpp"

#include <map>

namespace gantry {
namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += "'" + names[i] + "'";
  }
  return out;
}

}  // namespace

std::vector<std::string> shared_uid_warnings(const std::vector<GroupAccount>& groups, uid_t apache_uid,
                                             const std::string& apache_user) {
  std::vector<std::string> lines;
  if (groups.size() < 2) return lines;
  std::map<uid_t, std::vector<const GroupAccount*>> by_uid;  // ordered: stable messages
  for (const GroupAccount& g : groups) by_uid[g.uid].push_back(&g);
  for (const auto& [uid, members] : by_uid) {
    std::vector<std::string> names;
    for (const GroupAccount* g : members) names.push_back(g->group);
    const std::string who = quoted_list(names);
    if (uid == apache_uid) {
      lines.push_back(
          "GANTRY0501: daemon group" + std::string(names.size() > 1 ? "s " : " ") + who + " run" +
          (names.size() > 1 ? "" : "s") + " as Apache's own User (" + apache_user + ", uid " +
          std::to_string(uid) + ") beside other groups: " + (names.size() > 1 ? "their" : "its") +
          " applications can signal Apache's children, and read their memory where it is readable"
          " (CoreDumpDirectory), which holds every group's secret, and can read and change the"
          " files of anything else running as " + apache_user +
          "; give each group that must be kept apart its own user= (see docs/security.md)");
    } else if (names.size() > 1) {
      lines.push_back("GANTRY0502: daemon groups " + who + " run as the same user (" + members.front()->user +
                      ", uid " + std::to_string(uid) +
                      "): each can signal the other's processes and read and change its files, so"
                      " they are not kept apart; give each group its own user= (see docs/security.md)");
    }
  }
  return lines;
}

}  // namespace gantry
