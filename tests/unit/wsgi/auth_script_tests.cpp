// run_auth_script (PythonApi): mod_wsgi's return-value rules for the four auth functions,
// the environ they get, and errors answered AuthAnswer::error with the script path logged.
#include <boost/test/unit_test.hpp>

#include "wsgi_test_support.hpp"

namespace gantry::test {
namespace {

const std::vector<EnvEntry> kEnviron = {{"REQUEST_URI", "/private"}, {"apache.version", "2.4.62"},
                                        {"mod_wsgi.script_reloading", "1"}};

AuthReply call(const TempScript& script, AuthCall which, const std::string& user, const std::string& argument,
               CapturingLogger& log, const std::string& group = "") {
  AuthQuery query;
  query.call = which;
  query.script_path = script.path();
  query.application_group = group;
  query.user = user;
  query.argument = argument;
  return api().run_auth_script(query, kEnviron, log);
}

const char* kScript = R"(
def check_password(environ, user, password):
    if user == 'raise':
        raise ValueError('boom in check_password')
    if user == 'nobody':
        return None
    if user == 'rename':
        return 'someone-else'
    if user == 'odd':
        return 42
    return password == 'right'

def get_realm_hash(environ, user, realm):
    if user == 'nobody':
        return None
    if user == 'bytes':
        return b'0123abcd'
    if user == 'bool':
        return True
    return user + ':' + realm

def groups_for_user(environ, user):
    if user == 'none':
        return 42
    return ['admins', b'staff', 'caf\xe9']

def allow_access(environ, host):
    assert 'wsgi.input' not in environ
    assert environ['apache.version'] == (2, 4, 62)
    assert environ['mod_wsgi.script_reloading'] == 1
    assert environ['mod_wsgi.version'][0] >= 4
    environ['wsgi.errors'].write('checked %s\n' % host)
    return {'allow': True, 'deny': False, 'none': None}[host]
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(auth_scripts)

BOOST_AUTO_TEST_CASE(check_password_answers) {
  TempScript script(kScript);
  CapturingLogger log;
  BOOST_TEST((call(script, AuthCall::check_password, "al", "right", log).answer == AuthAnswer::granted));
  BOOST_TEST((call(script, AuthCall::check_password, "al", "wrong", log).answer == AuthAnswer::denied));
  BOOST_TEST((call(script, AuthCall::check_password, "nobody", "x", log).answer == AuthAnswer::unknown));
  const AuthReply renamed = call(script, AuthCall::check_password, "rename", "x", log);
  BOOST_TEST((renamed.answer == AuthAnswer::granted));
  BOOST_TEST(renamed.values == std::vector<std::string>{"someone-else"});
  BOOST_TEST((call(script, AuthCall::check_password, "odd", "x", log).answer == AuthAnswer::error));
  BOOST_TEST(log.logged("GANTRY0404"));
  BOOST_TEST((call(script, AuthCall::check_password, "raise", "x", log).answer == AuthAnswer::error));
  BOOST_TEST(log.logged("GANTRY0402: Exception occurred processing WSGI script '" + script.path() + "'"));
  BOOST_TEST(log.logged("boom in check_password"));
}

BOOST_AUTO_TEST_CASE(realm_hash_answers) {
  TempScript script(kScript);
  CapturingLogger log;
  const AuthReply text = call(script, AuthCall::get_realm_hash, "al", "realm", log);
  BOOST_TEST((text.answer == AuthAnswer::granted));
  BOOST_TEST(text.values == std::vector<std::string>{"al:realm"});
  BOOST_TEST(call(script, AuthCall::get_realm_hash, "bytes", "r", log).values == std::vector<std::string>{"0123abcd"});
  BOOST_TEST((call(script, AuthCall::get_realm_hash, "nobody", "r", log).answer == AuthAnswer::unknown));
  BOOST_TEST((call(script, AuthCall::get_realm_hash, "bool", "r", log).answer == AuthAnswer::error));
}

BOOST_AUTO_TEST_CASE(groups_str_and_bytes_become_latin1_bytes) {
  TempScript script(kScript);
  CapturingLogger log;
  const AuthReply groups = call(script, AuthCall::groups_for_user, "al", "", log, "auth-group");
  BOOST_TEST((groups.answer == AuthAnswer::granted));
  BOOST_TEST(groups.values == (std::vector<std::string>{"admins", "staff", "caf\xe9"}));
  BOOST_TEST((call(script, AuthCall::groups_for_user, "none", "", log).answer == AuthAnswer::error));
}

BOOST_AUTO_TEST_CASE(allow_access_answers_and_environ) {
  TempScript script(kScript);
  CapturingLogger log;
  BOOST_TEST((call(script, AuthCall::allow_access, "", "allow", log).answer == AuthAnswer::granted), log.all());
  BOOST_TEST((call(script, AuthCall::allow_access, "", "deny", log).answer == AuthAnswer::denied));
  BOOST_TEST((call(script, AuthCall::allow_access, "", "none", log).answer == AuthAnswer::unknown));
  BOOST_TEST(log.logged("GANTRY0412: checked allow"));  // wsgi.errors reaches the given logger
}

BOOST_AUTO_TEST_CASE(missing_function_is_an_error) {
  TempScript script("def unrelated(): pass\n");
  CapturingLogger log;
  BOOST_TEST((call(script, AuthCall::allow_access, "", "h", log).answer == AuthAnswer::error));
  BOOST_TEST(log.logged("GANTRY0405"));
  BOOST_TEST(log.logged("allow_access()"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace gantry::test
