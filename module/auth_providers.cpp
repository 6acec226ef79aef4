// mod_wsgi's Apache-level auth hooks, with its names and semantics:
//   - the "wsgi" authn provider (AuthBasicProvider wsgi / AuthDigestProvider wsgi), backed
//     by WSGIAuthUserScript's check_password() and get_realm_hash();
//   - the "wsgi-group" authz provider (Require wsgi-group NAME...), backed by
//     WSGIAuthGroupScript's groups_for_user();
//   - an access checker running WSGIAccessScript's allow_access() (False: 403).
// The script runs embedded through the PythonApi table (the same loader and application
// groups as requests), or - Gantry's addition - with process-group=NAME in that daemon
// group over the daemon protocol (AUTH_QUERY / AUTH_REPLY), so a server with
// WSGIRestrictEmbedded On needs no Python in its children for this either.
//
// Every failure fails closed: a script that raises, returns the wrong type or cannot run
// is an error for authn (500, as mod_wsgi), a denial for authz and access.
#include <httpd.h>

#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_auth.h>
#include <util_script.h>

#include <unistd.h>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "apache_log.hpp"
#include "config.hpp"
#include "daemon_dispatch.hpp"
#include "daemon_runtime.hpp"
#include "gantry/daemon_auth_client.hpp"
#include "gantry_hooks.h"
#include "group_names.hpp"
#include "guard.hpp"
#include "python_loader.hpp"
#include "request_environ.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// docs/log-messages.md, "Authentication and access (0401-0419)".
constexpr const char* kClientDenied = "GANTRY0403";
constexpr const char* kNotInGroups = "GANTRY0406";
constexpr const char* kCannotRunEmbedded = "GANTRY0407";
constexpr const char* kDaemonCheckFailed = "GANTRY0408";
constexpr const char* kNoGroupScript = "GANTRY0409";
constexpr const char* kNoUserScript = "GANTRY0410";

void add(std::vector<EnvEntry>& env, const char* key, const char* value) {
  if (value) env.push_back({key, value});
}

// Request header name -> its CGI name (HTTP_ACCEPT_LANGUAGE); empty when the name has a
// character other than letters, digits and '-' (Apache drops those from CGI environs too).
std::string cgi_header_name(const char* name) {
  std::string out = "HTTP_";
  for (const char* p = name; *p; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::toupper(c)));
    else if (c == '-') out.push_back('_');
    else return {};
  }
  return out;
}

// What an auth function gets, as mod_wsgi 4.9.4 builds it: the request headers (never
// Authorization or Proxy-Authorization), the server and connection facts, the request
// line, SCRIPT_NAME/PATH_INFO from r->uri, and mod_wsgi's keys. Not the handler's full
// CGI environ: these run before the handler, and there is no body (no wsgi.input).
std::vector<EnvEntry> auth_environ(request_rec* r, const char* process_group, const char* application_group,
                                   bool reloading) {
  std::vector<EnvEntry> env;
  env.reserve(40);
  const apr_array_header_t* headers = apr_table_elts(r->headers_in);
  const auto* entries = reinterpret_cast<const apr_table_entry_t*>(headers->elts);
  for (int i = 0; i < headers->nelts; ++i) {
    const char* key = entries[i].key;
    if (!key || !entries[i].val) continue;
    if (!strcasecmp(key, "Content-Type")) add(env, "CONTENT_TYPE", entries[i].val);
    else if (!strcasecmp(key, "Content-Length")) add(env, "CONTENT_LENGTH", entries[i].val);
    else if (!strcasecmp(key, "Authorization") || !strcasecmp(key, "Proxy-Authorization")) continue;
    else if (std::string name = cgi_header_name(key); !name.empty()) env.push_back({std::move(name), entries[i].val});
  }
  conn_rec* c = r->connection;
  add(env, "SERVER_SIGNATURE", ap_psignature("", r));
  add(env, "SERVER_SOFTWARE", ap_get_server_banner());
  add(env, "SERVER_NAME", ap_escape_html(r->pool, ap_get_server_name(r)));
  add(env, "SERVER_ADDR", c->local_ip);
  env.push_back({"SERVER_PORT", std::to_string(ap_get_server_port(r))});
  add(env, "REMOTE_HOST", ap_get_remote_host(c, r->per_dir_config, REMOTE_HOST, nullptr));
  add(env, "REMOTE_ADDR", r->useragent_ip);
  add(env, "DOCUMENT_ROOT", ap_document_root(r));
  add(env, "SERVER_ADMIN", r->server->server_admin);
  env.push_back({"REMOTE_PORT", std::to_string(c->client_addr ? c->client_addr->port : 0)});
  add(env, "SERVER_PROTOCOL", r->protocol);
  add(env, "REQUEST_METHOD", r->method);
  add(env, "QUERY_STRING", r->args ? r->args : "");
  request_rec* first = r;
  while (first->prev) first = first->prev;  // the URI the client asked for
  add(env, "REQUEST_URI", first->unparsed_uri);
  if (!r->path_info || !*r->path_info) {
    add(env, "SCRIPT_NAME", r->uri);
    add(env, "PATH_INFO", "");
  } else {
    const int split = ap_find_path_info(r->uri, r->path_info);
    env.push_back({"SCRIPT_NAME", std::string(r->uri, static_cast<std::size_t>(split))});
    add(env, "PATH_INFO", r->path_info);
  }
  add(env, "apache.version", apache_version());
  add(env, "mod_wsgi.process_group", process_group);
  add(env, "mod_wsgi.application_group", application_group);
  add(env, "mod_wsgi.script_reloading", reloading ? "1" : "0");
  return env;
}

// In the daemon group named by process-group=.
AuthReply run_in_daemon(request_rec* r, const char* group_name, const AuthQuery& query,
                        const std::vector<EnvEntry>& env, Logger& log) {
  const DaemonGroupRuntime* group = find_daemon_group_runtime(group_name);
  const DaemonGeneration* generation = daemon_generation();
  if (!group || !generation) {
    report_unknown_daemon_group(r, group_name);
    return {};
  }
  DaemonConnection connection = connect_daemon_group(*group);
  if (!connection.fd) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "%s: %s() of %s cannot run in daemon group '%s' for %s: cannot connect to %s"
                  " after %d attempts: %s; the check fails closed",
                  kDaemonCheckFailed, auth_function_name(query.call), query.script_path.c_str(), group_name, r->uri,
                  group->socket_path.c_str(), connection.attempts, std::strerror(connection.error));
    return {};
  }
  DaemonAuthResult result =
      ask_daemon_auth(connection.fd.get(), generation->secret, query, env, group->limits.socket_timeout, log);
  connection.fd.reset();
  if (!result.delivered)
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s: %s() of %s in daemon group '%s' for %s gave no answer: %s;"
                  " the check fails closed",
                  kDaemonCheckFailed, auth_function_name(query.call), query.script_path.c_str(), group_name, r->uri,
                  result.detail.c_str());
  return result.reply;
}

// Runs one call of `script`, embedded or in its daemon group. AuthAnswer::error (logged)
// whenever it could not run.
AuthReply run_script(request_rec* r, const AuthScript& script, AuthCall call, const char* user,
                     const char* argument) {
  const DirConfig& dir = *dir_config(r->per_dir_config);
  AuthQuery query;
  query.call = call;
  query.script_path = script.path;
  query.application_group =
      expand_group_spec(r, script.application_group ? script.application_group : kGlobalGroup.data(), "");
  query.reload_on_change = flag_value(dir.script_reloading, true);
  query.user = user ? user : "";
  query.argument = argument ? argument : "";
  const char* process_group = script.process_group ? expand_group_spec(r, script.process_group, "") : "";
  const auto env = auth_environ(r, process_group, query.application_group.c_str(), query.reload_on_change);
  RequestLogger log(r);
  if (*process_group) return run_in_daemon(r, process_group, query, env, log);

  const GlobalConfig& global = *server_config(r->server)->global;
  const PythonRuntime& rt = python_runtime();
  if (global.restrict_embedded_on() || !rt.initialized) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "%s: cannot run %s() of %s for %s: %s - add process-group=NAME to the directive to run it"
                  " in a daemon group; the check fails closed",
                  kCannotRunEmbedded, auth_function_name(call), script.path, r->uri,
                  global.restrict_embedded_on() ? "embedded mode is disabled (WSGIRestrictEmbedded On)"
                  : rt.error.empty()            ? "Python is not started in this process"
                                                : rt.error.c_str());
    return {};
  }
  return rt.api->run_auth_script(query, env, log);
}

// ---- the "wsgi" authn provider ---------------------------------------------------------

const AuthScript* user_script(request_rec* r, const char* provider_directive) {
  const AuthScript* script = dir_config(r->per_dir_config)->auth_user_script;
  if (!script)
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "%s: %s wsgi applies to %s but no WSGIAuthUserScript does - add one to the same"
                  " <Location>/<Directory>",
                  kNoUserScript, provider_directive, r->uri);
  return script;
}

authn_status check_password(request_rec* r, const char* user, const char* password) {
  return run_guarded(r->server, "the wsgi authn provider", AUTH_GENERAL_ERROR, [&] {
    const AuthScript* script = user_script(r, "AuthBasicProvider");
    if (!script) return AUTH_GENERAL_ERROR;
    const AuthReply reply = run_script(r, *script, AuthCall::check_password, user, password);
    switch (reply.answer) {
      case AuthAnswer::granted:
        // check_password may name the user the request goes on as.
        if (!reply.values.empty()) r->user = apr_pstrdup(r->pool, reply.values.front().c_str());
        return AUTH_GRANTED;
      case AuthAnswer::denied:
        return AUTH_DENIED;
      case AuthAnswer::unknown:
        return AUTH_USER_NOT_FOUND;
      case AuthAnswer::error:
        break;
    }
    return AUTH_GENERAL_ERROR;
  });
}

authn_status get_realm_hash(request_rec* r, const char* user, const char* realm, char** hash) {
  return run_guarded(r->server, "the wsgi authn provider", AUTH_GENERAL_ERROR, [&] {
    const AuthScript* script = user_script(r, "AuthDigestProvider");
    if (!script) return AUTH_GENERAL_ERROR;
    const AuthReply reply = run_script(r, *script, AuthCall::get_realm_hash, user, realm);
    if (reply.answer == AuthAnswer::unknown) return AUTH_USER_NOT_FOUND;
    if (reply.answer != AuthAnswer::granted || reply.values.size() != 1) return AUTH_GENERAL_ERROR;
    *hash = apr_pstrdup(r->pool, reply.values.front().c_str());
    return AUTH_USER_FOUND;
  });
}

const authn_provider kAuthnProvider = {&check_password, &get_realm_hash};

// ---- the "wsgi-group" authz provider ---------------------------------------------------

// WSGIGroupAuthoritative is parsed and not consulted: with Apache 2.4's authz providers,
// how a denial combines with other Require lines is <RequireAny>/<RequireAll>'s job, and a
// user outside the listed groups is never granted by this provider either way.
authz_status check_groups(request_rec* r, const char* require_args, const void*) {
  return run_guarded(r->server, "the wsgi-group authz provider", AUTHZ_DENIED, [&] {
    if (!r->user) return AUTHZ_DENIED_NO_USER;
    const AuthScript* script = dir_config(r->per_dir_config)->auth_group_script;
    if (!script) {
      ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                    "%s: Require wsgi-group applies to %s but no WSGIAuthGroupScript does - add one to"
                    " the same <Location>/<Directory>; access is denied",
                    kNoGroupScript, r->uri);
      return AUTHZ_DENIED;
    }
    const AuthReply reply = run_script(r, *script, AuthCall::groups_for_user, r->user, nullptr);
    if (reply.answer != AuthAnswer::granted) return AUTHZ_DENIED;  // logged by the script side
    if (!require_args) require_args = "";
    const char* rest = require_args;
    while (*rest) {
      const char* wanted = ap_getword_conf(r->pool, &rest);
      if (!*wanted) break;
      for (const std::string& group : reply.values)
        if (group == wanted) return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "%s: Authorization of user '%s' to access '%s' failed: %s (required: %s)", kNotInGroups,
                  r->user, r->uri,
                  reply.values.empty() ? "the user is not a member of any groups"
                                       : "the user is not a member of the required groups",
                  require_args);
    return AUTHZ_DENIED;
  });
}

const authz_provider kAuthzProvider = {&check_groups, nullptr};

// ---- WSGIAccessScript --------------------------------------------------------------------

int access_checker(request_rec* r) {
  return run_guarded(r->server, "the WSGIAccessScript access checker", static_cast<int>(HTTP_FORBIDDEN), [&] {
    const AuthScript* script = dir_config(r->per_dir_config)->access_script;
    if (!script) return static_cast<int>(DECLINED);
    const char* host = ap_get_remote_host(r->connection, r->per_dir_config, REMOTE_HOST, nullptr);
    if (!host) host = r->useragent_ip;
    const AuthReply reply = run_script(r, *script, AuthCall::allow_access, nullptr, host);
    if (reply.answer == AuthAnswer::granted) return static_cast<int>(OK);
    if (reply.answer == AuthAnswer::unknown) return static_cast<int>(DECLINED);  // no opinion
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "%s: Client denied by server configuration: '%s' (allow_access() in %s %s)", kClientDenied,
                  r->filename ? r->filename : r->uri, script->path,
                  reply.answer == AuthAnswer::denied ? "returned False" : "failed, see above");
    return static_cast<int>(HTTP_FORBIDDEN);
  });
}

}  // namespace
}  // namespace gantry::module

extern "C" void gantry_register_auth_hooks(apr_pool_t* p) {
  using namespace gantry::module;
  ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, "wsgi", AUTHN_PROVIDER_VERSION, &kAuthnProvider,
                            AP_AUTH_INTERNAL_PER_CONF);
  ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wsgi-group", AUTHZ_PROVIDER_VERSION, &kAuthzProvider,
                            AP_AUTH_INTERNAL_PER_CONF);
  ap_hook_access_checker(access_checker, nullptr, nullptr, APR_HOOK_MIDDLE);
}
