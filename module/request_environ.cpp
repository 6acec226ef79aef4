#include "request_environ.hpp"

#include <ap_release.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <httpd.h>
#include <util_filter.h>
#include <util_script.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "group_names.hpp"

namespace gantry::module {
namespace {

// By the SCRIPT_NAME Apache mapped (kept by add_cgi_environ), whatever a trusted proxy's
// X-Script-Name made of SCRIPT_NAME since.
const char* resource_group_name(request_rec* r) {
  const char* script_name = apr_table_get(r->subprocess_env, "mod_wsgi.script_name");
  return apr_pstrcat(r->pool, server_group_name(r), "|", script_name ? script_name : "", nullptr);
}

// Expands a %{...} spec (or returns a literal as is). `missing` is what an unset
// %{ENV:var} yields.
const char* expand_spec(request_rec* r, const char* spec, const char* missing) {
  std::string_view s(spec);
  if (s.substr(0, 2) != "%{") return spec;
  if (s == kGlobalGroup) return "";
  if (s == kServerGroup) return server_group_name(r);
  if (s == kResourceGroup) return resource_group_name(r);
  std::string_view var = env_variable(s);
  if (var.empty()) return spec;
  const char* name = apr_pstrmemdup(r->pool, var.data(), var.size());
  // mod_wsgi looks in SetEnv/RewriteRule [E=] values, then request notes, then the
  // process environment.
  const char* value = apr_table_get(r->subprocess_env, name);
  if (!value) value = apr_table_get(r->notes, name);
  if (!value) value = std::getenv(name);
  if (!value) return missing;
  std::string_view v(value);
  if (v == kGlobalGroup || v == kServerGroup || v == kResourceGroup) return expand_spec(r, value, missing);
  return value;
}

bool should_map_head(request_rec* r, HeadMapping mapping) {
  if (!r->header_only) return false;
  switch (mapping) {
    case HeadMapping::off:
      return false;
    case HeadMapping::on:
      return true;
    default:
      // Auto: only when a content filter (mod_deflate, SSI...) sits in front of the
      // protocol filters, since such filters may need the body to get the headers right.
      return r->output_filters && r->output_filters->frec->ftype < AP_FTYPE_PROTOCOL;
  }
}

void set_flag(request_rec* r, const char* key, bool value) {
  apr_table_setn(r->subprocess_env, key, value ? "1" : "0");
}

}  // namespace

// The running httpd's version as "major.minor.patch"; the Python side turns it into the
// tuple of ints mod_wsgi puts in apache.version. (mod_wsgi reports the httpd it was
// compiled against; the running one is what an app asking this means.)
const char* apache_version() {
  static const std::string version = [] {
    ap_version_t v{};
    ap_get_server_revision(&v);
    return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
  }();
  return version.c_str();
}

const char* expand_group_spec(request_rec* r, const char* spec, const char* missing) {
  return expand_spec(r, spec, missing);
}

const char* server_group_name(request_rec* r) {
  const char* host = r->server->server_hostname ? r->server->server_hostname : "";
  const apr_port_t port = ap_get_server_port(r);
  if (port == DEFAULT_HTTP_PORT || port == DEFAULT_HTTPS_PORT) return host;
  return apr_psprintf(r->pool, "%s:%u", host, static_cast<unsigned>(port));
}

RequestPlan plan_request(request_rec* r, const DirConfig& dir, const ScriptAlias* alias) {
  RequestPlan plan;
  const char* process = alias && alias->process_group ? alias->process_group : dir.process_group;
  const char* application =
      alias && alias->application_group ? alias->application_group : dir.application_group;
  const char* callable = alias && alias->callable_object ? alias->callable_object : dir.callable_object;
  const Flag pass_auth =
      alias && alias->pass_authorization != Flag::unset ? alias->pass_authorization : dir.pass_authorization;

  plan.process_group = process ? expand_spec(r, process, "") : "";
  plan.application_group = expand_spec(r, application ? application : kResourceGroup.data(), "");
  plan.callable_object = callable ? expand_spec(r, callable, "application") : "application";
  if (!*plan.callable_object) plan.callable_object = "application";
  plan.script_reloading = flag_value(dir.script_reloading, true);
  plan.pass_authorization = flag_value(pass_auth, false);
  plan.chunked_request = flag_value(dir.chunked_request, false);
  plan.enable_sendfile = flag_value(dir.enable_sendfile, false);
  plan.ignore_activity = flag_value(dir.ignore_activity, false);
  plan.map_head_to_get = should_map_head(r, dir.map_head_to_get);
  return plan;
}

void apply_handler_script(request_rec* r, const ScriptFileConf& handler, RequestPlan& plan) {
  plan.handler_script = handler.script;
  if (handler.process_group) plan.process_group = expand_spec(r, handler.process_group, "");
  if (handler.application_group) plan.application_group = expand_spec(r, handler.application_group, "");
  plan.callable_object = "handle_request";
  if (handler.pass_authorization != Flag::unset) plan.pass_authorization = handler.pass_authorization == Flag::on;
}

void add_cgi_environ(request_rec* r) {
  ap_add_common_vars(r);
  ap_add_cgi_vars(r);
  // SCRIPT_NAME/PATH_INFO as Apache split them, kept under mod_wsgi.* as mod_wsgi does
  // (so middleware that rewrites SCRIPT_NAME - or X-Script-Name from a trusted proxy - can
  // still see the originals).
  apr_table_t* env = r->subprocess_env;
  const char* script_name = apr_table_get(env, "SCRIPT_NAME");
  const char* path_info = apr_table_get(env, "PATH_INFO");
  if (!path_info) apr_table_setn(env, "PATH_INFO", path_info = "");
  apr_table_setn(env, "mod_wsgi.script_name", script_name ? script_name : "");
  apr_table_setn(env, "mod_wsgi.path_info", path_info);
}

std::vector<EnvEntry> finish_environ(request_rec* r, const RequestPlan& plan) {
  apr_table_t* env = r->subprocess_env;
  // The server's PATH is the Apache parent's, not the application's business (mod_wsgi
  // leaves it out too).
  apr_table_unset(env, "PATH");
  if (plan.pass_authorization) {
    if (const char* auth = apr_table_get(r->headers_in, "Authorization"))
      apr_table_setn(env, "HTTP_AUTHORIZATION", auth);
  }
  if (plan.map_head_to_get) apr_table_setn(env, "REQUEST_METHOD", "GET");


  apr_table_setn(env, "mod_wsgi.process_group", plan.process_group);
  apr_table_setn(env, "mod_wsgi.application_group", plan.application_group);
  apr_table_setn(env, "mod_wsgi.callable_object", plan.callable_object);
  apr_table_setn(env, "mod_wsgi.request_handler", r->handler ? r->handler : "");
  apr_table_setn(env, "mod_wsgi.handler_script", plan.handler_script ? plan.handler_script : "");
  set_flag(r, "mod_wsgi.script_reloading", plan.script_reloading);
  set_flag(r, "mod_wsgi.enable_sendfile", plan.enable_sendfile);
  set_flag(r, "mod_wsgi.ignore_activity", plan.ignore_activity);  // read by the daemon
  conn_rec* c = r->connection;
  apr_table_setn(env, "mod_wsgi.listener_host", c->local_ip ? c->local_ip : "");
  apr_table_setn(env, "mod_wsgi.listener_port",
                 apr_psprintf(r->pool, "%u", c->local_addr ? unsigned(c->local_addr->port) : 0u));
  if (!r->log_id) {
    const char** id = &r->log_id;
    ap_run_generate_log_id(c, r, id);
  }
  if (r->log_id) apr_table_setn(env, "mod_wsgi.request_id", r->log_id);
  apr_table_setn(env, "mod_wsgi.request_start",
                 apr_psprintf(r->pool, "%" APR_TIME_T_FMT, r->request_time));
  apr_table_setn(env, "mod_wsgi.script_start",
                 apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_now()));
  // Daemon mode: when the request was handed on towards the daemon (mod_wsgi sets it for
  // daemon-mode requests only).
  if (*plan.process_group) {
    apr_table_setn(env, "mod_wsgi.queue_start", apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_now()));
  }
  // The connection's log id, once there is one: like mod_wsgi, the first request of a
  // connection has none and makes one, so later requests on it can be tied together.
  if (c->log_id) {
    apr_table_setn(env, "mod_wsgi.connection_id", c->log_id);
  } else {
    const char** id = &c->log_id;
    ap_run_generate_log_id(c, nullptr, id);
  }
  apr_table_setn(env, "apache.version", apache_version());

  const apr_array_header_t* entries = apr_table_elts(env);
  const auto* items = reinterpret_cast<const apr_table_entry_t*>(entries->elts);
  std::vector<EnvEntry> out;
  out.reserve(static_cast<std::size_t>(entries->nelts));
  for (int i = 0; i < entries->nelts; ++i) {
    if (!items[i].key) continue;
    out.push_back(EnvEntry{items[i].key, items[i].val ? items[i].val : ""});
  }
  return out;
}

}  // namespace gantry::module
