// Server start-up and child start-up: warnings about directives with no effect, starting
// Python where the configuration says so, preloading scripts.
#include <httpd.h>

#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>

#include <cstdlib>
#include <string>

#include "apache_log.hpp"
#include "config.hpp"
#include "gantry_hooks.h"
#include "group_names.hpp"
#include "guard.hpp"
#include "python_loader.hpp"
#include "daemon_supervisor.hpp"
#include "server_facts.hpp"
#include "status_boards.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// GANTRY_VERSION is the project version in the top CMakeLists.txt, the only place it is written.
constexpr const char* kVersionComponent = "Gantry/" GANTRY_VERSION;

// Apache runs post_config twice at start-up: once for the preliminary configuration that
// is then thrown away (with the DSO), and once for real. Only the real one does work.
bool is_preliminary_pass() { return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG; }

void warn_about_config(server_rec* s, const GlobalConfig& global) {
  for (const auto& name : global.inert_directives)
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 "GANTRY0020: %s is accepted for mod_wsgi compatibility but has no effect in"
                 " Gantry (docs/directives.md says why); remove it to silence this warning",
                 name.c_str());
}

// The application group a preloaded script lands in, without a request to look at.
std::string preload_group(const PreloadScript& preload, server_rec* s) {
  const std::string& spec = preload.application_group;
  if (group_is_global(spec)) return "";
  std::string server = s->server_hostname ? s->server_hostname : "";
  if (s->port && s->port != DEFAULT_HTTP_PORT && s->port != DEFAULT_HTTPS_PORT)
    server += ":" + std::to_string(s->port);
  if (spec == kServerGroup) return server;
  if (spec == kResourceGroup) return server + "|" + preload.mount_point;
  if (auto var = env_variable(spec); !var.empty()) {
    const char* value = std::getenv(std::string(var).c_str());
    return value ? value : "";
  }
  return spec;
}

void preload_scripts(server_rec* s, const GlobalConfig& global) {
  const PythonRuntime& rt = python_runtime();
  if (!rt.initialized) return;
  for (const auto& preload : global.preloads) {
    if (!preload.process_group.empty()) continue;  // belongs to a daemon group
    server_rec* where = preload.server ? preload.server : s;
    const std::string group = preload_group(preload, where);
    ScriptTarget target;
    target.script_path = preload.script;
    target.application_group = group;
    target.callable = preload.callable;
    if (!rt.api->import_script(target))
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, where,
                   "GANTRY0022: preloading %s into application group '%s' failed (see above);"
                   " it will be loaded again on its first request",
                   preload.script.c_str(), group.c_str());
  }
}

apr_status_t shutdown_python(void*) {
  const PythonRuntime& rt = python_runtime();
  if (rt.initialized && rt.api && rt.api->shutdown) rt.api->shutdown();
  return APR_SUCCESS;
}

}  // namespace
}  // namespace gantry::module

using namespace gantry::module;

extern "C" int gantry_post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) {
  return run_guarded(s, "post_config", HTTP_INTERNAL_SERVER_ERROR, [&] {
    if (is_preliminary_pass()) return OK;
    ap_add_version_component(pconf, kVersionComponent);
    GlobalConfig& global = *server_config(s)->global;
    global.python.process_group.clear();
    global.python.logger = &process_logger();
    global.python.server = embedded_server_facts();
    if (!flag_value(global.server_metrics, true)) global.python.server.read_scoreboard = nullptr;
    warn_about_config(s, global);
    if (global.restrict_embedded_on() && !global.dispatch_script.empty())
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                   "GANTRY0421: WSGIRestrictEmbedded On, but WSGIDispatchScript %s runs in the Apache"
                   " children (it chooses the daemon group before a request is handed over): Python"
                   " starts in them for dispatch scripts only, as in mod_wsgi; applications still"
                   " never run embedded",
                   global.dispatch_script.c_str());
    hold_python_object();
    // Daemon mode: sockets, secret, status table and the daemon processes. Before
    // start_python below, so daemons fork from a parent without Python in it.
    if (int rc = start_daemon_groups(pconf, ptemp, s, global); rc != OK) return rc;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "GANTRY0001: %s configured: embedded Python %s",
                 kVersionComponent,
                 global.restrict_embedded_on()      ? "disabled (WSGIRestrictEmbedded On)"
                 : global.lazy_initialization_on() ? "starts in each child"
                                                   : "starts once in the parent (WSGILazyInitialization Off)");
    if (!global.lazy_initialization_on() && !global.restrict_embedded_on()) {
      // WSGILazyInitialization Off: Python starts once here and children inherit it.
      start_python(s, global.python);
    }
    return OK;
  });
}

extern "C" void gantry_child_init(apr_pool_t* pchild, server_rec* s) {
  run_guarded_void(s, "child_init", [&] {
    daemon_child_init(pchild, s);  // daemon mode: children close the daemons' listeners
    close_status_board_fds();      // ... and the daemons' writable scoreboards
    GlobalConfig& global = *server_config(s)->global;
    // WSGIRestrictEmbedded On: no Python in Apache children - unless a WSGIDispatchScript
    // must run there (GANTRY0421 said so at start-up); applications still never do.
    if (global.restrict_embedded_on() && global.dispatch_script.empty()) return;
    PythonRuntime& rt = python_runtime();
    if (rt.initialized) {
      rt.api->after_fork_child();
    } else if (!start_python(s, global.python)) {
      return;
    }
    apr_pool_cleanup_register(pchild, nullptr, shutdown_python, apr_pool_cleanup_null);
    if (!global.restrict_embedded_on()) preload_scripts(s, global);
  });
}
