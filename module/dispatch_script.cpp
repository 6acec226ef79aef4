#include "dispatch_script.hpp"

#include <apr_strings.h>
#include <http_log.h>

#include <string>

#include "apache_channel.hpp"
#include "process_traits.hpp"
#include "python_loader.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {

int run_dispatch_script(request_rec* r, const ScriptFileConf& script, RequestPlan& plan) {
  // WSGIRestrictEmbedded On together with a dispatch script is refused at start-up
  // (GANTRY0421), so Python missing here means it failed to start in this child.
  const PythonRuntime& rt = python_runtime();
  if (!rt.initialized) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0426: cannot run WSGI dispatch script %s for %s: Python is not available in this"
                  " process (%s)",
                  script.script, r->uri, rt.error.empty() ? "it was not started" : rt.error.c_str());
    return HTTP_INTERNAL_SERVER_ERROR;
  }
  ScriptTarget target;
  target.script_path = script.script;
  // mod_wsgi runs a dispatch script without application-group= in the main interpreter.
  target.application_group = script.application_group ? expand_group_spec(r, script.application_group, "") : "";
  target.reload_on_change = plan.script_reloading;
  // The environ the script sees is the request's as it stands: the configured groups.
  ApacheChannel channel(r, finish_environ(r, plan), embedded_traits(), /*allow_file_buckets=*/false);
  DispatchChoice choice;
  if (rt.api->run_dispatch(target, channel, &choice) != Outcome::ok) return HTTP_INTERNAL_SERVER_ERROR;

  auto expanded = [&](const std::string& value, const char* missing) {
    return expand_group_spec(r, apr_pstrmemdup(r->pool, value.data(), value.size()), missing);
  };
  if (choice.process_group) plan.process_group = expanded(*choice.process_group, "");
  if (choice.application_group) plan.application_group = expanded(*choice.application_group, "");
  if (choice.callable_object) {
    plan.callable_object = expanded(*choice.callable_object, "application");
    if (!*plan.callable_object) plan.callable_object = "application";
  }
  return OK;
}

}  // namespace gantry::module
