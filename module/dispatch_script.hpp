#pragma once
// WSGIDispatchScript on the Apache side: runs the script in this Apache child (embedded
// Python, as mod_wsgi does) before the request goes anywhere, and lets its answers replace
// the request's process group, application group and callable.
#include <httpd.h>

#include "config.hpp"
#include "request_environ.hpp"

namespace gantry::module {

// OK with `plan` updated, or the HTTP status to answer with (the cause is logged).
int run_dispatch_script(request_rec* r, const ScriptFileConf& script, RequestPlan& plan);

}  // namespace gantry::module
