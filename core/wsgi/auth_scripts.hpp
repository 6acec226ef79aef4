#pragma once
// mod_wsgi's authentication and access scripts (WSGIAccessScript, WSGIAuthUserScript,
// WSGIAuthGroupScript) on the Python side: the script is loaded by the same loader and
// into the same application groups as WSGI applications; only the call differs.
#include <span>

#include "gantry/auth_check.hpp"
#include "gantry/channel.hpp"
#include "gantry/log.hpp"

namespace gantry::wsgi {

// Never throws. Call without holding the GIL. See PythonApi::run_auth_script.
AuthReply run_auth_script(const AuthQuery& query, std::span<const EnvEntry> environ, Logger& log) noexcept;

}  // namespace gantry::wsgi
