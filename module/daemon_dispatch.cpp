#include "daemon_dispatch.hpp"

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "daemon_socket.hpp"
#include "gantry/proc_stat.hpp"
#include "gantry/scoreboard_reader.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"
#include "status_boards.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// How long a child waits for the parent to record a daemon's death before it writes its
// error line without the cause. The parent reaps within about a second (the MPM's
// maintenance loop), and this wait only happens on a connection the daemon cut.
constexpr apr_interval_time_t kCauseWait = apr_time_from_msec(1500);

std::string elapsed_text(apr_time_t since) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f s",
                static_cast<double>(apr_time_now() - since) / APR_USEC_PER_SEC);
  return buffer;
}

std::string ago_text(std::int64_t at_us) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.1f s ago",
                static_cast<double>(apr_time_now() - at_us) / APR_USEC_PER_SEC);
  return buffer;
}

// ---- Connecting --------------------------------------------------------------------------

using Connection = DaemonConnection;

// Connects, retrying while the group is (re)starting or its backlog is full: ENOENT
// (socket not created yet), ECONNREFUSED (nobody listening), EAGAIN (backlog full).
// Anything else (EACCES...) will not heal by waiting.
Connection connect_to_group(const DaemonGroupRuntime& group) {
  Connection c;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, group.socket_path.c_str(),
              std::min(group.socket_path.size() + 1, sizeof(address.sun_path) - 1));
  const apr_time_t deadline =
      apr_time_now() + apr_time_from_msec(group.connect_timeout.count());
  apr_interval_time_t pause = apr_time_from_msec(10);
  for (;;) {
    ++c.attempts;
    ScopedFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      c.error = errno;
      return c;
    }
    apply_socket_buffer_sizes(fd.get(), group.options(), group.name());
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      c.fd = std::move(fd);
      return c;
    }
    c.error = errno;
    fd.reset();
    if (c.error != ENOENT && c.error != ECONNREFUSED && c.error != EAGAIN && c.error != EINTR)
      return c;
    const apr_time_t now = apr_time_now();
    if (now >= deadline) return c;
    apr_sleep(std::min(pause, deadline - now));
    pause = std::min(pause * 2, apr_time_from_msec(250));
  }
}

// ---- What the status table says about a group -------------------------------------------

// True while `pid` is dying or dead but not yet reaped by the parent: a zombie, or still
// inside exit (PF_EXITING: the kernel closes the process's sockets - which is how we
// noticed - before it becomes a zombie).
bool dying_or_unreaped(pid_t pid) {
  const auto stat = read_proc_stat(pid);
  return !stat || stat->dying();  // no stat: gone already
}

// The raw wait status of `pid` while it is a zombie, or -1. Why: the MPM tells the
// parent's supervisor only a decoded number, so an application's os._exit(3) and a SIGQUIT
// look alike there; the zombie still knows which.
int zombie_wait_status(pid_t pid) {
  const auto stat = read_proc_stat(pid);
  return stat && stat->state == 'Z' ? stat->exit_code : -1;
}

// The supervisor's record, corrected by the wait status seen on the zombie (if any).
ExitCause with_wait_status(ExitCause cause, int status) {
  if (status < 0 || cause.kind == ExitCause::Kind::none) return cause;
  const ExitCause seen = decode_wait_status(status);
  if (seen.kind == ExitCause::Kind::none) return cause;
  cause.kind = seen.kind;
  cause.code = seen.code;
  cause.core_dumped = seen.core_dumped;
  return cause;
}

// The process has not reached serving yet, by its own status board: it is still starting
// Python or importing its preload scripts, so a request that waited on it waited on that.
bool still_starting(std::size_t slot, pid_t pid) {
  for (int cell = 0; cell < 2; ++cell) {
    const StatusBoardView view = status_board(slot, cell);
    if (!view.base) continue;
    const scoreboard::BoardReading board = scoreboard::read_board(view.base, view.bytes, apr_time_now());
    if (board.pid == pid) return board.state == scoreboard::State::starting;
  }
  return false;
}

std::string describe_slot(unsigned index, const SlotSnapshot& s, bool starting) {
  std::string text = "process " + std::to_string(index);
  if (s.pid) {
    text += " (pid " + std::to_string(s.pid) + ") running for " +
            std::to_string((apr_time_now() - s.started_us) / APR_USEC_PER_SEC) + " s";
    if (starting) text += ", still starting (Python, or the import of its preloaded scripts)";
    if (s.stopping) text += ", stopping";
  } else {
    text += " not running";
  }
  if (s.last_exit.kind != ExitCause::Kind::none || s.last_exit.pid) {
    text += "; previous pid " + std::to_string(s.last_exit.pid) + " " + s.last_exit.describe() +
            " " + ago_text(s.last_exit.at_us);
  }
  if (s.restarts) text += ", " + std::to_string(s.restarts) + " restarts";
  return text;
}

// A one-clause summary of the whole group, for 503/504 lines.
std::string describe_group(const DaemonGroupRuntime& group) {
  const DaemonGeneration* generation = daemon_generation();
  if (!generation || !generation->table) return "no status available";
  std::string text;
  const unsigned shown = std::min(group.processes, 4u);
  for (unsigned i = 0; i < shown; ++i) {
    if (i) text += "; ";
    const SlotSnapshot s = generation->table->slot(group.first_slot + i).read();
    text += describe_slot(i, s, s.pid && still_starting(group.first_slot + i, s.pid));
  }
  if (group.processes > shown)
    text += "; and " + std::to_string(group.processes - shown) + " more";
  return text;
}

// After the daemon cut the connection: which process of the group died while the request
// ran, and how. Waits (bounded) for the parent to reap a process that is dead but not yet
// recorded.
std::string cause_of_hangup(const DaemonGroupRuntime& group, apr_time_t since) {
  const DaemonGeneration* generation = daemon_generation();
  if (!generation || !generation->table) return "no status available";
  const apr_time_t deadline = apr_time_now() + kCauseWait;
  pid_t zombie_pid = 0;
  int zombie_status = -1;
  for (;;) {
    // The process that cut us off is the one that ended last; an older exit during the
    // request (a sibling recycled meanwhile) is not it.
    bool pending = false;
    unsigned latest_index = 0;
    SlotSnapshot latest;
    for (unsigned i = 0; i < group.processes; ++i) {
      const SlotSnapshot s = generation->table->slot(group.first_slot + i).read();
      if (s.last_exit.pid && s.last_exit.at_us >= since && s.last_exit.at_us > latest.last_exit.at_us) {
        latest = s;
        latest_index = i;
      }
      if (s.pid && dying_or_unreaped(s.pid)) {
        pending = true;
        // 0 is also what a process we may not inspect (not dumpable) shows.
        if (const int status = zombie_wait_status(s.pid); status > 0) {
          zombie_pid = s.pid;
          zombie_status = status;
        }
      }
    }
    if (pending && apr_time_now() < deadline) {
      apr_sleep(apr_time_from_msec(50));
      continue;
    }
    if (latest.last_exit.pid)
      return "process " + std::to_string(latest_index) + " (pid " +
             std::to_string(latest.last_exit.pid) + ") " +
             with_wait_status(latest.last_exit,
                              latest.last_exit.pid == zombie_pid ? zombie_status : -1)
                 .describe() +
             " after running " + std::to_string(latest.last_exit.lived_us / APR_USEC_PER_SEC) + " s";
    return pending ? "a daemon process died; the parent has not recorded how yet"
                   : "no daemon process of the group died (it closed the connection itself)";
  }
}

// ---- The client side of a daemon response -----------------------------------------------

// response-socket-timeout: how long a write to the HTTP client may block (the client not
// reading a large response) while a daemon response is relayed; 0 = socket-timeout. Set on
// the client socket for the relay (Apache's output filters wait with the socket's timeout)
// and put back afterwards, so the rest of the connection keeps Apache's Timeout.
class ClientWriteTimeout {
 public:
  ClientWriteTimeout(request_rec* r, const DaemonGroupRuntime& group)
      : socket_(ap_get_conn_socket(r->connection)) {
    if (!socket_ || apr_socket_timeout_get(socket_, &saved_) != APR_SUCCESS) {
      socket_ = nullptr;
      return;
    }
    const auto seconds = group.options().response_socket_timeout.count();
    const apr_interval_time_t timeout =
        seconds > 0 ? apr_time_from_sec(seconds)
                    : apr_time_from_msec(group.limits.socket_timeout.count());
    apr_socket_timeout_set(socket_, timeout);
  }
  ~ClientWriteTimeout() {
    if (socket_) apr_socket_timeout_set(socket_, saved_);
  }
  ClientWriteTimeout(const ClientWriteTimeout&) = delete;
  ClientWriteTimeout& operator=(const ClientWriteTimeout&) = delete;

 private:
  apr_socket_t* socket_;
  apr_interval_time_t saved_ = 0;
};

// ---- Checks before forwarding ----------------------------------------------------------

// script-user= / script-group=: the script must be owned as configured, else 403.
bool script_owner_allowed(request_rec* r, const DaemonGroupRuntime& group) {
  if (!group.check_script_user && !group.check_script_group) return true;
  struct stat st{};
  if (!r->filename || stat(r->filename, &st) != 0) return true;  // 404 is the daemon's call
  if (group.check_script_user && st.st_uid != group.script_uid) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0070: %s is owned by uid %ld but daemon group '%s' requires"
                  " script-user uid %ld; answering 403 - chown the script or change script-user=",
                  r->filename, static_cast<long>(st.st_uid), group.name().c_str(),
                  static_cast<long>(group.script_uid));
    return false;
  }
  if (group.check_script_group && st.st_gid != group.script_gid) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "GANTRY0070: %s has group gid %ld but daemon group '%s' requires"
                  " script-group gid %ld; answering 403 - chgrp the script or change"
                  " script-group=",
                  r->filename, static_cast<long>(st.st_gid), group.name().c_str(),
                  static_cast<long>(group.script_gid));
    return false;
  }
  return true;
}

int report_connect_failure(request_rec* r, const DaemonGroupRuntime& group, const Connection& c,
                           apr_time_t started) {
  std::string hint;
  if (c.error == EACCES || c.error == EPERM)
    hint = "Apache's child user (uid " + std::to_string(getuid()) +
           ") may not reach the socket: the socket directory must be searchable by it"
           " (set WSGISocketPrefix to a directory such as /var/run/wsgi) and socket-user="
           " must be that user";
  else if (c.error == EMFILE || c.error == ENFILE)
    hint = "this Apache child (pid " + std::to_string(getpid()) +
           ") has no file descriptor left for the connection (" +
           (c.error == EMFILE ? "its ulimit -n" : "the system's file-max") +
           "): the group is not at fault";
  else if (c.error == ENOENT)
    hint = "the socket does not exist: the group's processes were never started or"
           " Apache's parent removed it";
  else
    hint = "no daemon process accepted within connect-timeout=" +
           std::to_string(group.connect_timeout.count() / 1000) +
           " s (all busy with a full listen-backlog=, or not running)";
  ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                "GANTRY0071: cannot connect to daemon group '%s' at %s for %s %s after %s"
                " (%d attempts): %s; %s; group status: %s",
                group.name().c_str(), group.socket_path.c_str(), r->method, r->uri,
                elapsed_text(started).c_str(), c.attempts, std::strerror(c.error), hint.c_str(),
                describe_group(group).c_str());
  return HTTP_SERVICE_UNAVAILABLE;
}

// The forwarder's detail line starts with its own "GANTRY03nn: "; ours leads, its text follows.
std::string forwarder_detail(const ForwardResult& result) { return result.detail; }

}  // namespace

DaemonConnection connect_daemon_group(const DaemonGroupRuntime& group) { return connect_to_group(group); }

int report_unknown_daemon_group(request_rec* r, const char* group_name) {
  ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                "GANTRY0077: no WSGI daemon process group called '%s' is running for %s %s;"
                " declare it with WSGIDaemonProcess %s (in this virtual host or globally) or"
                " fix WSGIProcessGroup / process-group=",
                group_name, r->method, r->uri, group_name);
  return HTTP_INTERNAL_SERVER_ERROR;
}

int dispatch_to_daemon(request_rec* r, const DaemonGroupRuntime& group, ApacheChannel& channel) {
  return run_guarded<int>(r->server, "daemon dispatch", HTTP_INTERNAL_SERVER_ERROR, [&]() -> int {
    const DaemonGeneration* generation = daemon_generation();
    if (!generation) return report_unknown_daemon_group(r, group.name().c_str());
    if (!script_owner_allowed(r, group)) return HTTP_FORBIDDEN;

    const apr_time_t started = apr_time_now();
    Connection c = connect_to_group(group);  // closed on every way out, a throw included
    if (!c.fd) return report_connect_failure(r, group, c, started);
    // As mod_wsgi: how many connects it took, and how many of them found the group
    // (re)starting.
    channel.add_environ("mod_wsgi.daemon_connects", std::to_string(c.attempts));
    channel.add_environ("mod_wsgi.daemon_restarts", std::to_string(c.attempts - 1));

    ForwardResult result;
    {
      ClientWriteTimeout client_timeout(r, group);
      result = forward_request(c.fd.get(), group.secret, channel, group.limits);
    }
    c.fd.reset();

    // Apache refused the request body and answered (or will): nothing the daemon sent
    // after that was written, whatever the forwarder made of the rest.
    if (const int status = channel.rejected_body_status()) return status;
    // WSGIErrorOverride took the application's error status: Apache answers it.
    if (const int status = channel.overridden_status()) return status;
    if (result.failure == ForwardFailure::none) {
      if (result.outcome == Outcome::ok) {
        try {
          channel.finish();  // a file bucket is only sent here, so the client may be gone now
        } catch (const ChannelError& e) {
          ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "GANTRY0049: response to %s not completed: %s",
                        r->uri, e.what());
        }
        return OK;
      }
      // The application failed before answering: 500, or 408 when the body it was
      // reading timed out on the client's side (the daemon raised that in its read()).
      if (!result.response_started)
        return result.outcome == Outcome::server_error ? channel.app_failure_status()
                                                       : result.http_status();
      channel.abort_response();  // the app failed after its headers went out
      return OK;
    }

    const char* id = "GANTRY0072";
    const char* what = "hung up before the response was complete";
    std::string cause;
    int level = APLOG_ERR;
    switch (result.failure) {
      case ForwardFailure::daemon_closed:
        id = "GANTRY0072";
        what = result.response_started ? "hung up in the middle of the response"
                                       : "hung up before sending response headers";
        cause = cause_of_hangup(group, started);
        result.detail.clear();  // ours names the process and how it ended
        break;
      case ForwardFailure::timeout:
        id = "GANTRY0073";
        what = "sent nothing within socket-timeout";
        result.detail = "socket-timeout=" +
                        std::to_string(group.limits.socket_timeout.count() / 1000) +
                        " s (raise it, or find what the application waits for)";
        cause = "group status: " + describe_group(group);
        break;
      case ForwardFailure::header_too_large:
        id = "GANTRY0074";
        what = "sent a response header larger than header-buffer-size";
        break;  // the forwarder's line names the header and the option
      case ForwardFailure::unexpected_descriptor:
        id = "GANTRY0520";
        what = "passed file descriptors the protocol did not ask for";
        cause = "every one was closed; an application that writes to its daemon socket itself"
                " is broken or hostile";
        break;
      case ForwardFailure::protocol_error:
        id = "GANTRY0075";
        what = "broke the daemon protocol";
        cause = "mod_gantry.so and mod_gantry_python.so may come from different builds";
        break;
      case ForwardFailure::daemon_aborted:
        id = "GANTRY0076";
        what = "gave up on the request";
        break;
      case ForwardFailure::client_gone:
        id = "GANTRY0078";
        what = "could not deliver: the client went away";
        level = APLOG_INFO;
        break;
      case ForwardFailure::none:
        break;
    }
    ap_log_rerror(APLOG_MARK, level, 0, r,
                  "%s: daemon group '%s' %s for %s %s after %s: %s%s%s", id, group.name().c_str(),
                  what, r->method, r->uri, elapsed_text(started).c_str(),
                  forwarder_detail(result).c_str(),
                  cause.empty() || result.detail.empty() ? "" : "; ", cause.c_str());
    if (!result.response_started) {
      const int status = result.http_status();
      return status ? status : HTTP_INTERNAL_SERVER_ERROR;
    }
    channel.abort_response();
    return OK;
  });
}

}  // namespace gantry::module
