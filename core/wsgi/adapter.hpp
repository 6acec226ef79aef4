#pragma once
// The WSGI adapter: runs one request through an application (PEP 3333) over a
// RequestChannel. The only copy of the WSGI logic; embedded and daemon mode both call it.
#include "gantry/channel.hpp"
#include "gantry/python_api.hpp"

namespace gantry::wsgi {

// Never throws. Call without holding the GIL.
Outcome run_request(const ScriptTarget& target, RequestChannel& channel) noexcept;

// Loads the script into its application group (WSGIImportScript). Never throws.
bool import_script(const ScriptTarget& target) noexcept;

}  // namespace gantry::wsgi
