#pragma once
// Process-wide Python settings that mod_wsgi exposes as directives and that must be in
// place before (PyConfig) or right after (sys.setswitchinterval) Python starts:
//   WSGIPythonHashSeed    -> PyConfig.use_hash_seed / hash_seed (PYTHONHASHSEED semantics)
//   WSGIDontWriteBytecode -> PyConfig.write_bytecode = 0 (sys.dont_write_bytecode)
//   WSGIPythonWarnings    -> PyConfig.warnoptions (sys.warnoptions, in order)
//   WSGISwitchInterval / switch-interval= -> sys.setswitchinterval()
// They go into PyConfig directly because Gantry starts Python isolated: the PYTHON*
// environment variables mod_wsgi relied on for some of them are ignored on purpose.
#include <Python.h>

#include "gantry/python_api.hpp"

namespace gantry::wsgi {

// Before Py_InitializeFromConfig (Python pre-initialised, UTF-8 mode).
PyStatus apply_start_settings(PyConfig& config, const PythonSettings& settings);

// After Python started, with the GIL held. Failures are logged; false if one happened.
bool apply_runtime_settings(const PythonSettings& settings);

}  // namespace gantry::wsgi
