#pragma once
// WSGIDispatchScript on the Python side: the script's process_group(), application_group()
// and callable_object() called with the request's environ, as mod_wsgi does.
#include "gantry/channel.hpp"
#include "gantry/python_api.hpp"

namespace gantry::wsgi {

// PythonApi::run_dispatch. Never throws; call without the GIL.
Outcome run_dispatch(const ScriptTarget& script, RequestChannel& channel, DispatchChoice* choice) noexcept;

}  // namespace gantry::wsgi
