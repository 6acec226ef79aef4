#pragma once
// Loading a WSGI script file as a module, the way mod_wsgi does: named "_mod_wsgi_" + the
// md5 hex digest of the script path, executed with __file__ set, once per interpreter
// (application group), re-executed when WSGIScriptReloading is On and the file's mtime
// changed.
#include "gantry/py/ref.hpp"
#include "gantry/python_api.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_target.hpp"

namespace gantry::wsgi {

// The interpreter must be current, GIL held. On Outcome::ok `module` is set; otherwise the
// cause was logged (not_found or server_error).
Outcome load_script(Interpreter& interpreter, const ScriptTarget& target, const LogTarget& log, py::Ref& module);

// module.<target.callable>; server_error (logged) if it is missing.
Outcome find_application(PyObject* module, const ScriptTarget& target, const LogTarget& log, py::Ref& application);

}  // namespace gantry::wsgi
