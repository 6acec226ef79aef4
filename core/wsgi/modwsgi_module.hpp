#pragma once
// The built-in `mod_wsgi` and `apache` modules every interpreter gets in sys.modules, with
// what mod_wsgi 4.9.4 (and 6.0, where it adds to it) puts there:
//   mod_wsgi: version, process_group, application_group, maximum_processes,
//     threads_per_process, FileWrapper, RequestTimeout, event_callbacks, shutdown_callbacks,
//     subscribe_events(), subscribe_shutdown(), request_data(), active_requests,
//     process_metrics(), request_metrics(), start_recording_metrics(), server_metrics();
//   apache: version, description, build_date, mpm_name, maximum_processes,
//     threads_per_process.
#include <Python.h>

#include "gantry/python_api.hpp"

namespace gantry::wsgi {

struct Interpreter;

// Creates both modules in `interpreter` (current, GIL held) and fills its EventHooks.
// False with a Python error set.
bool add_builtin_modules(Interpreter& interpreter, const PythonSettings& settings);

}  // namespace gantry::wsgi
