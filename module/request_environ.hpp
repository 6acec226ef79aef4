#pragma once
// What the handler works out about one request before handing it to Python: the resolved
// process/application group and callable (mod_wsgi's %{...} rules), and the CGI environ
// with mod_wsgi's adjustments and mod_wsgi.* keys.
#include <httpd.h>

#include <vector>

#include "config.hpp"
#include "gantry/channel.hpp"

namespace gantry::module {

struct RequestPlan {
  const char* process_group = "";      // "" = embedded
  const char* application_group = "";  // "" = main interpreter
  const char* callable_object = "application";
  bool script_reloading = true;
  bool pass_authorization = false;
  bool chunked_request = false;
  bool enable_sendfile = false;
  bool ignore_activity = false;  // WSGIIgnoreActivity: not activity for inactivity-timeout
  bool map_head_to_get = false;
  // WSGIHandlerScript: the script that serves the request (SCRIPT_FILENAME stays the file
  // Apache matched); null for a WSGI script file itself.
  const char* handler_script = nullptr;
};

// Resolves directives (alias options first, then WSGIProcessGroup etc.) for request `r`.
// Needs SCRIPT_NAME for %{RESOURCE}, so call it after add_cgi_environ().
RequestPlan plan_request(request_rec* r, const DirConfig& dir, const ScriptAlias* alias);

// A WSGIHandlerScript serves the request: its script, its options over `plan`, and the
// callable mod_wsgi calls in handler scripts (handle_request).
void apply_handler_script(request_rec* r, const ScriptFileConf& handler, RequestPlan& plan);

// Fills r->subprocess_env with the CGI variables Apache computes (common + CGI vars) and
// keeps SCRIPT_NAME/PATH_INFO as mod_wsgi.script_name/path_info.
void add_cgi_environ(request_rec* r);

// Applies mod_wsgi's adjustments and mod_wsgi.* keys, then copies r->subprocess_env out.
// May be called again after the plan changed (WSGIDispatchScript).
std::vector<EnvEntry> finish_environ(request_rec* r, const RequestPlan& plan);

// A process/application group spec (%{GLOBAL}, %{SERVER}, %{RESOURCE}, %{ENV:var} or a
// name) resolved for `r`; "" is the main interpreter / embedded. An unset %{ENV:var}
// yields `missing`.
const char* expand_group_spec(request_rec* r, const char* spec, const char* missing);

// mod_wsgi's %{SERVER}: "host" or "host:port" for a non-default port.
const char* server_group_name(request_rec* r);

// The running httpd's version as "major.minor.patch" (environ's and the apache module's
// apache.version).
const char* apache_version();

}  // namespace gantry::module
