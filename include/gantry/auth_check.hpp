#pragma once
// One call of a mod_wsgi authentication/access script (WSGIAccessScript,
// WSGIAuthUserScript, WSGIAuthGroupScript) and its answer, as both the Python side
// (PythonApi::run_auth_script) and the daemon protocol (AUTH_QUERY / AUTH_REPLY) carry it.
// No httpd, APR or Python types: the module, core/wsgi and the daemon all see it.
#include <cstdint>
#include <string>
#include <vector>

namespace gantry {

// Which function of the script is called (mod_wsgi's names and arguments).
enum class AuthCall : std::uint8_t {
  allow_access = 1,     // WSGIAccessScript: allow_access(environ, host)
  check_password = 2,   // WSGIAuthUserScript, Basic: check_password(environ, user, password)
  get_realm_hash = 3,   // WSGIAuthUserScript, Digest: get_realm_hash(environ, user, realm)
  groups_for_user = 4,  // WSGIAuthGroupScript: groups_for_user(environ, user)
};

inline const char* auth_function_name(AuthCall call) {
  switch (call) {
    case AuthCall::allow_access: return "allow_access";
    case AuthCall::check_password: return "check_password";
    case AuthCall::get_realm_hash: return "get_realm_hash";
    case AuthCall::groups_for_user: return "groups_for_user";
  }
  return "unknown";
}

// What the function answered.
enum class AuthAnswer : std::uint8_t {
  granted = 0,  // True; a user name (check_password); a hash; a group list
  denied = 1,   // False
  unknown = 2,  // None: no such user (authn), no opinion (allow_access)
  error = 3,    // it raised, returned a value of the wrong type, or could not run (logged)
};

struct AuthQuery {
  AuthCall call = AuthCall::allow_access;
  std::string script_path;
  std::string application_group;  // resolved; "" = the main interpreter (%{GLOBAL})
  bool reload_on_change = true;   // WSGIScriptReloading
  std::string user;               // all but allow_access
  std::string argument;           // the password, the realm, or the host (allow_access)
};

struct AuthReply {
  AuthAnswer answer = AuthAnswer::error;
  // granted: check_password -> the user name it returned as a str, if it did (else empty);
  // get_realm_hash -> the hash; groups_for_user -> the group names (latin-1 bytes).
  std::vector<std::string> values;
};

}  // namespace gantry
