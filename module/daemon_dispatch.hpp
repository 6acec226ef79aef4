#pragma once
// Daemon mode in an Apache child: hand one request to its WSGIDaemonProcess group and
// relay the answer. The handler resolves the process group (WSGIProcessGroup etc.), builds
// the ApacheChannel with the group's traits and calls:
//
//   if (const DaemonGroupRuntime* group = find_daemon_group_runtime(plan.process_group)) {
//     ApacheChannel channel(r, finish_environ(r, plan), group->traits, sendfile_on);
//     return dispatch_to_daemon(r, *group, channel);
//   }
//   return report_unknown_daemon_group(r, plan.process_group);
//
// Failures map as mod_wsgi's do where a client can tell (503 cannot connect, 504 no
// headers within socket-timeout, 500 header too large), with one error line each that
// names the group, the daemon process and how it ended (from the supervisor's status
// table: signal, core dump, OOM kill, exit status), the URL and the elapsed time.
#include <httpd.h>

#include "apache_channel.hpp"
#include "daemon_runtime.hpp"
#include "gantry/scoped_fd.hpp"

namespace gantry::module {

// A connection to one of the group's daemon processes, retried within connect-timeout
// while the group is (re)starting or its backlog is full, as for a request. No fd on
// failure, with the errno of the last attempt in `error`.
struct DaemonConnection {
  ScopedFd fd;
  int error = 0;
  int attempts = 0;
};
DaemonConnection connect_daemon_group(const DaemonGroupRuntime& group);

// Returns what the handler returns: OK once a response went out (complete or aborted),
// otherwise the HTTP status to answer with.
int dispatch_to_daemon(request_rec* r, const DaemonGroupRuntime& group, ApacheChannel& channel);

// The request names a process group no WSGIDaemonProcess declared (or daemon mode is not
// running in this server): logs it and returns 500, as mod_wsgi does.
int report_unknown_daemon_group(request_rec* r, const char* group_name);

}  // namespace gantry::module
