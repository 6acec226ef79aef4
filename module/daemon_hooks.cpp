// The two hooks only daemon mode needs, as C entry points for mod_gantry.c:
//   check_config - resolves daemon accounts so `apachectl -t` reports a bad user= etc.
//   monitor      - the parent's periodic tick (SIGKILL for overdue draining processes,
//                  retry of a failed fork)
// post_config and child_init are shared with embedded mode and call into
// daemon_supervisor.hpp from lifecycle.cpp.
#include <httpd.h>

#include "config.hpp"
#include "daemon_supervisor.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"

using namespace gantry::module;

extern "C" int gantry_check_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
  return run_guarded(s, "check_config", static_cast<int>(HTTP_INTERNAL_SERVER_ERROR), [&] {
    return check_daemon_groups(pconf, s, *server_config(s)->global);
  });
}

extern "C" int gantry_monitor(apr_pool_t*, server_rec* s) {
  daemon_monitor(s);
  return DECLINED;  // a RUN_ALL hook: let other modules' monitors run too
}
