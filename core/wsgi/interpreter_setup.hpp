#pragma once
// What every interpreter (main and sub) gets before any app code runs in it: the
// python-path entries, sys.stdout/stderr into the log, the WSGIRestrict* behaviours, and
// the built-in `mod_wsgi` module apps probe.
#include "gantry/python_api.hpp"
#include "wsgi/interpreters.hpp"

namespace gantry::wsgi {

// The interpreter must be current with the GIL held. Failures are logged (GANTRY0123)
// and give false; the interpreter is still usable, just less set up.
bool setup_interpreter(Interpreter& interpreter, const PythonSettings& settings);

}  // namespace gantry::wsgi
