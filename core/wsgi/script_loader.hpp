#pragma once
// Loading a WSGI script file as a module, the way mod_wsgi does: named "_mod_wsgi_" + the
// md5 hex digest of the script path, executed with __file__ set, once per interpreter
// (application group), re-executed when WSGIScriptReloading is On and the file's mtime
// changed.
#include <ctime>

#include "gantry/py/ref.hpp"
#include "gantry/python_api.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_target.hpp"

namespace gantry::wsgi {

// The result of stat() on a script path (rc/error as stat returned them).
struct ScriptStat {
  int rc = -1;
  int error = 0;
  timespec mtime{};
};
// Needs no GIL: a request stats its script before taking the GIL, so that the check
// WSGIScriptReloading makes on every request costs no GIL hand-off.
ScriptStat stat_script(const ScriptTarget& target) noexcept;

// The interpreter must be current, GIL held. On Outcome::ok `module` is set; otherwise the
// cause was logged (not_found or server_error). `known`: the script's stat_script() result
// taken just before (else load_script stats it itself, with the GIL released).
Outcome load_script(Interpreter& interpreter, const ScriptTarget& target, const LogTarget& log, py::Ref& module,
                    const ScriptStat* known = nullptr);

// startup-timeout: who is told of each load attempt's result (PythonApi::observe_script_loads).
// Set before any load; a plain global read by the loading threads.
void set_script_load_observer(PythonApi::ScriptLoadObserver observer, void* context) noexcept;

// module.<target.callable>; server_error (logged) if it is missing.
Outcome find_application(PyObject* module, const ScriptTarget& target, const LogTarget& log, py::Ref& application);

}  // namespace gantry::wsgi
