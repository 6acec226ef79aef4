#pragma once
// One accepted connection from an Apache child = one request, served end to end.
#include "gantry/daemon_api.hpp"
#include "gantry/python_api.hpp"
#include "gantry/scoped_fd.hpp"
#include "lifecycle.hpp"

namespace gantry::daemon {

// Authenticates the peer, reads its request, runs the WSGI app through the shared adapter
// and closes `fd`. Never throws: every failure is logged and ends only this connection.
void serve_connection(ScopedFd fd, const DaemonRunSpec& spec, const PythonApi& python, Lifecycle& life);

}  // namespace gantry::daemon
