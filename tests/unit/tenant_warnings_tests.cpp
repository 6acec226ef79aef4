// Start-up warnings about daemon groups sharing a uid (gantry/tenant_warnings.hpp).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "gantry/tenant_warnings.hpp"

using gantry::GroupAccount;
using gantry::shared_uid_warnings;

BOOST_AUTO_TEST_SUITE(tenant_warnings)

BOOST_AUTO_TEST_CASE(one_group_is_never_warned_about) {
  // mod_wsgi's default: one group, user= unset, so Apache's User. Nothing to keep apart.
  BOOST_TEST(shared_uid_warnings({{"main", 33, "www-data"}}, 33, "www-data").empty());
  BOOST_TEST(shared_uid_warnings({}, 33, "www-data").empty());
}

BOOST_AUTO_TEST_CASE(distinct_users_are_quiet) {
  BOOST_TEST(shared_uid_warnings({{"a", 1001, "alice"}, {"b", 1002, "bob"}}, 33, "www-data").empty());
}

BOOST_AUTO_TEST_CASE(groups_running_as_apaches_user) {
  const auto lines = shared_uid_warnings({{"a", 33, "www-data"}, {"b", 65534, "nobody"}}, 33, "www-data");
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0].rfind("GANTRY0501: daemon group 'a' runs as Apache's own User (www-data, uid 33)", 0) == 0);
  BOOST_TEST(lines[0].find("user=") != std::string::npos);
  const auto both = shared_uid_warnings({{"a", 33, "www-data"}, {"c", 33, "www-data"}}, 33, "www-data");
  BOOST_REQUIRE(both.size() == 1u);
  BOOST_TEST(both[0].find("groups 'a' and 'c' run as Apache's own User") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(groups_sharing_another_user) {
  const auto lines = shared_uid_warnings(
      {{"a", 1001, "shop"}, {"b", 1002, "blog"}, {"c", 1001, "shop"}, {"d", 1001, "shop"}}, 33, "www-data");
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0].rfind("GANTRY0502: daemon groups 'a', 'c' and 'd' run as the same user (shop, uid 1001)", 0) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
