// The wsgi-script handler (and the handler names WSGIHandlerScript declares): decides
// whether and where a request runs (embedded Python, or a daemon process group - after the
// trusted proxy headers and any WSGIDispatchScript had their say), builds the environ and
// runs the app through an ApacheChannel.
#include <httpd.h>

#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include <cstring>
#include <string>

#include "apache_channel.hpp"
#include "apache_log.hpp"
#include "config.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"
#include "process_traits.hpp"
#include "python_loader.hpp"
#include "request_environ.hpp"
#include "dispatch_script.hpp"
#include "script_alias.hpp"
#include "script_directives.hpp"
#include "trusted_proxy_environ.hpp"
#include "daemon_dispatch.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

bool is_wsgi_handler(const char* handler) {
  return handler && (!std::strcmp(handler, kWsgiHandler) || !std::strcmp(handler, kWsgiMimeHandler));
}

// A chunked request body needs WSGIChunkedRequest On (411 otherwise, as mod_wsgi).
int check_chunked_body(request_rec* r, const DirConfig& dir) {
  if (apr_table_get(r->headers_in, "Transfer-Encoding") && !flag_value(dir.chunked_request, false)) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0043: request for %s has a chunked body, which is refused (411) unless"
                  " \"WSGIChunkedRequest On\" applies to it",
                  r->filename);
    return HTTP_LENGTH_REQUIRED;
  }
  return OK;
}

// Checks the request may run a script at all; an HTTP status if not, OK if it may.
int check_script_request(request_rec* r, const DirConfig& dir, const ScriptAlias* alias) {
  // WSGIScriptAlias is an explicit "this is a script", like ScriptAlias; handler mapping
  // by SetHandler/AddHandler needs ExecCGI, as for CGI scripts.
  if (!alias && !(ap_allow_options(r) & OPT_EXECCGI)) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0040: Options ExecCGI is off in this directory: %s - add"
                  " \"Options +ExecCGI\" to the <Directory> holding the script, or map it with"
                  " WSGIScriptAlias",
                  r->filename);
    return HTTP_FORBIDDEN;
  }
  if (r->finfo.filetype == APR_NOFILE) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0041: Target WSGI script not found or unable to stat: %s", r->filename);
    return HTTP_NOT_FOUND;
  }
  if (r->finfo.filetype == APR_DIR) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0042: Attempt to invoke directory as WSGI application: %s - the URL"
                  " must name a script inside the directory",
                  r->filename);
    return HTTP_FORBIDDEN;
  }
  if (r->finfo.filetype != APR_REG) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0048: Target WSGI script is not a regular file: %s", r->filename);
    return HTTP_FORBIDDEN;
  }
  return check_chunked_body(r, dir);
}

// Daemon mode (module/daemon_dispatch.cpp): forward to the group's daemon processes and
// relay the answer through an ApacheChannel with the group's traits.
int run_in_daemon(request_rec* r, const RequestPlan& plan) {
  const DaemonGroupRuntime* group = find_daemon_group_runtime(plan.process_group);
  if (!group) return report_unknown_daemon_group(r, plan.process_group);
  ApacheChannel channel(r, finish_environ(r, plan), group->traits, /*allow_file_buckets=*/true);
  // WSGIErrorOverride: daemon mode only, as in mod_wsgi (embedded responses go out as the
  // application writes them, before its status could be taken back).
  if (flag_value(dir_config(r->per_dir_config)->error_override, false)) channel.override_error_responses();
  channel.use_sendfile(plan.enable_sendfile);
  return dispatch_to_daemon(r, *group, channel);
}

int run_embedded(request_rec* r, const RequestPlan& plan) {
  const GlobalConfig& global = *server_config(r->server)->global;
  if (global.restrict_embedded_on()) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0044: embedded mode is disabled (WSGIRestrictEmbedded On) but %s is not"
                  " delegated to a daemon process group - add WSGIProcessGroup NAME (or"
                  " process-group=NAME on its WSGIScriptAlias)",
                  r->uri);
    return HTTP_INTERNAL_SERVER_ERROR;
  }
  const PythonRuntime& rt = python_runtime();
  if (!rt.initialized) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0047: cannot run %s: Python is not available in this process (%s)",
                  r->filename, rt.error.empty() ? "it was not started" : rt.error.c_str());
    return HTTP_INTERNAL_SERVER_ERROR;
  }

  ApacheChannel channel(r, finish_environ(r, plan), embedded_traits(), /*allow_file_buckets=*/true);
  channel.use_sendfile(plan.enable_sendfile);
  ScriptTarget target;
  target.script_path = plan.handler_script ? plan.handler_script : r->filename;
  target.application_group = plan.application_group;
  target.callable = plan.callable_object;
  target.reload_on_change = plan.script_reloading;

  const Outcome outcome = rt.api->run_request(target, channel);
  // A refused body was answered by Apache: whatever the application made of it stays unsent.
  if (const int status = channel.rejected_body_status()) return status;
  switch (outcome) {
    case Outcome::ok:
      try {
        channel.finish();
      } catch (const ChannelError& e) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "GANTRY0049: response to %s not completed: %s",
                      r->uri, e.what());
      }
      return OK;
    case Outcome::not_found:
      if (channel.response_sent()) return OK;
      channel.discard_unsent_response();
      return HTTP_NOT_FOUND;
    case Outcome::server_error:
      // Nothing went out yet: let Apache answer 500, or 408 for a body that timed out
      // (ErrorDocument applies).
      if (!channel.response_sent()) {
        channel.discard_unsent_response();
        return channel.app_failure_status();
      }
      channel.abort_response();
      return OK;
    case Outcome::aborted:
      channel.abort_response();
      return OK;
  }
  return OK;
}

// WSGIRestrictProcess: the group this request selected (embedded counts as %{GLOBAL})
// must be one of those listed for its location; 500 otherwise, as mod_wsgi answers.
bool process_group_allowed(request_rec* r, const DirConfig& dir, const char* group) {
  if (!dir.restrict_process) return true;
  const char* name = *group ? group : "%{GLOBAL}";
  std::string listed;
  for (int i = 0; i < dir.restrict_process->nelts; ++i) {
    const char* allowed = APR_ARRAY_IDX(dir.restrict_process, i, const char*);
    if (!std::strcmp(allowed, name)) return true;
    listed += listed.empty() ? allowed : std::string(" ") + allowed;
  }
  ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                "GANTRY0080: %s selects WSGI process group '%s', which WSGIRestrictProcess does"
                " not allow here (allowed: %s) - fix WSGIProcessGroup / process-group= or add the"
                " group to WSGIRestrictProcess",
                r->uri, name, listed.c_str());
  return false;
}

int handle(request_rec* r, const ScriptFileConf* handler_script) {
  const DirConfig& dir = *dir_config(r->per_dir_config);
  const ScriptAlias* alias = handler_script ? nullptr : request_script_alias(r);
  // A WSGIHandlerScript runs for whatever file Apache matched, which need not exist: mod_wsgi
  // checks neither ExecCGI nor the file for these.
  const int checked = handler_script ? check_chunked_body(r, dir) : check_script_request(r, dir, alias);
  if (checked != OK) return checked;

  add_cgi_environ(r);
  RequestPlan plan = plan_request(r, dir, alias);
  if (handler_script) apply_handler_script(r, *handler_script, plan);
  // After the plan: %{RESOURCE} names the group by the URL Apache mapped, not by what a
  // proxy says (mod_wsgi resolves groups before it reads proxy headers too).
  apply_trusted_proxy_headers(r, dir);
  // The dispatch script picks the daemon group, so it runs before anything is handed over.
  if (dir.dispatch_script) {
    if (int status = run_dispatch_script(r, *dir.dispatch_script, plan); status != OK) return status;
  }
  if (!process_group_allowed(r, dir, plan.process_group)) return HTTP_INTERNAL_SERVER_ERROR;
  if (*plan.process_group) return run_in_daemon(r, plan);
  return run_embedded(r, plan);
}

}  // namespace
}  // namespace gantry::module

using namespace gantry::module;

extern "C" int gantry_translate_name(request_rec* r) {
  return run_guarded(r->server, "translate_name", static_cast<int>(DECLINED),
                     [&] { return translate_script_alias(r); });
}

extern "C" int gantry_handler(request_rec* r) {
  if (!r->handler) return DECLINED;
  const ScriptFileConf* handler_script = nullptr;
  if (!is_wsgi_handler(r->handler)) {
    handler_script = find_handler_script(*dir_config(r->per_dir_config), r->handler);
    if (!handler_script) return DECLINED;
  }
  return run_guarded(r->server, "the wsgi-script handler", static_cast<int>(HTTP_INTERNAL_SERVER_ERROR),
                     [&] { return handle(r, handler_script); });
}
