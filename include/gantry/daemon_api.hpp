#pragma once
// The hand-over from Apache's side to a daemon process. The parent forks the process
// (module/daemon_supervisor.*), which sets its title, drops privileges, chdir()s and sets the
// umask while still free of Python, then dlopen()s mod_gantry_python.so and calls
// gantry_daemon_main() with this spec. From there on the process belongs to daemon/:
// Python start-up, preloads, the thread pool serving the group's socket, lifecycle and exit.
// Like python_api.hpp, both sides are built from one tree, so C++ types may cross.
#include <array>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gantry/log.hpp"
#include "gantry/python_api.hpp"

namespace gantry {

inline constexpr const char* kDaemonEntrySymbol = "gantry_daemon_main";

// A script to import when the process starts (WSGIImportScript into this group, or a
// WSGIScriptAlias naming both process-group= and application-group=).
struct PreloadScript {
  std::string script_path;
  std::string application_group;  // "" = main interpreter
  std::string callable = "application";
};

struct DaemonRunSpec {
  std::string group;                       // WSGIDaemonProcess name
  unsigned process_index = 0;              // 0..processes-1, for logs
  int listen_fd = -1;                      // the group's listening unix socket (inherited)
  unsigned threads = 15;                   // request threads
  std::size_t stack_size = 0;              // bytes per request thread; 0 = system default
  std::array<std::uint8_t, 32> secret{};   // this generation's secret: HELLO must carry it
  bool multiprocess = false;               // wsgi.multiprocess for this group
  PythonSettings python;                   // python-home, python-path, restrictions, logger
  std::vector<PreloadScript> preload;
  // Lifecycle (0 = off); the option names are those of WSGIDaemonProcess.
  std::uint64_t maximum_requests = 0;
  std::uint64_t maximum_requests_jitter = 0;
  std::uint64_t maximum_memory = 0;        // bytes of RSS
  std::uint64_t memory_growth_log = 32u << 20;
  double inactivity_timeout = 0;
  double startup_timeout = 0;              // restart if the WSGI script keeps failing to load
  double request_timeout = 0;
  double graceful_timeout = 15;
  double eviction_timeout = 0;             // SIGUSR1/SIGINT grace; 0 = graceful-timeout
  double shutdown_timeout = 5;
  double restart_interval = 0;
  double interrupt_timeout = 0;            // 0: request-timeout restarts at once
  double deadlock_timeout = 300;
  double socket_timeout = 60;
  double queue_timeout = 0;               // queue-timeout: 504 a request queued longer
  std::size_t response_buffer_size = 65536;  // response-buffer-size (SocketChannelOptions)
  Logger* logger = nullptr;                // process log sink (writes to Apache's error log)
  // Called once, right after the process stopped accepting to recycle (not when Apache
  // stops it): lets the slot's standby take over the socket at once
  // (include/gantry/slot_page.hpp). Empty when the group has no standby.
  std::function<void()> hand_over;
  // True while the standby waits, ready to take over (empty: no standby).
  std::function<bool()> standby_ready;
  // Told the process's RSS after each request (the parent quotes it if the process dies).
  std::function<void(std::uint64_t)> note_rss;
};

// Why a daemon process exited, as its exit status: the supervisor reads it back from
// waitpid() and names the cause in its log line and in the shared table that Apache children
// quote when a request to that process failed. Statuses not listed are errors. Ours start at
// 100 so that none collides with a status httpd or a C runtime gives meaning to (httpd's
// APEXIT_CHILDFATAL is 15, APEXIT_CHILDSICK 3, 1 and 2 are common error exits).
enum class DaemonExit : int {
  shutdown = 0,            // SIGTERM from the supervisor (Apache stops or restarts hard)
  startup_failed = 100,    // Python, privileges or the entry point could not start; logged
  maximum_requests = 101,  // maximum-requests reached
  inactivity = 102,        // inactivity-timeout: nothing in flight, or no request I/O, that long
  maximum_memory = 103,    // RSS above maximum-memory after a request
  restart_signal = 104,    // SIGUSR1/SIGINT asked for a graceful restart
  request_timeout = 105,   // requests outlived request-timeout
  deadlock = 106,          // the GIL was held past deadlock-timeout
  script_changed = 107,    // the WSGI script changed (WSGIScriptReloading On)
  restart_interval = 108,  // restart-interval elapsed
  cpu_time_limit = 109,    // cpu-time-limit reached (SIGXCPU)
  retired = 110,           // Apache restarted gracefully: this generation drained and left
  startup_timeout = 111,   // the WSGI script failed to load and no retry succeeded in time
};

// Sent by the supervisor to a restart's old processes (SIGUSR1 is the daemon's own restart
// signal, SIGTERM a stop): keep serving the old generation's last requests, leave when
// quiet, within graceful-timeout. SIGHUP because it is also what Apache's MPM sends its
// process group on a restart, and because httpd does not report a child that dies of it
// (a waiting standby, a process still starting) as a crash, as it would for SIGUSR2.
inline constexpr int kRetireSignal = SIGHUP;

// Text for a DaemonExit status ("maximum-requests reached"), or nullptr if not one of ours.
inline const char* describe_daemon_exit(int status) {
  switch (static_cast<DaemonExit>(status)) {
    case DaemonExit::shutdown: return "shut down by the supervisor";
    case DaemonExit::startup_failed: return "failed to start (see the preceding log lines)";
    case DaemonExit::maximum_requests: return "recycled: maximum-requests reached";
    case DaemonExit::inactivity: return "recycled: inactivity-timeout elapsed";
    case DaemonExit::maximum_memory: return "recycled: resident memory above maximum-memory";
    case DaemonExit::restart_signal: return "restarted by SIGUSR1/SIGINT";
    case DaemonExit::request_timeout: return "restarted: a request exceeded request-timeout";
    case DaemonExit::deadlock: return "restarted: Python deadlock (deadlock-timeout)";
    case DaemonExit::script_changed: return "restarted: WSGI script changed";
    case DaemonExit::restart_interval: return "recycled: restart-interval elapsed";
    case DaemonExit::cpu_time_limit: return "restarted: cpu-time-limit reached";
    case DaemonExit::retired: return "drained after Apache's graceful restart";
    case DaemonExit::startup_timeout: return "restarted: the WSGI script did not load within startup-timeout";
  }
  return nullptr;
}

// Runs the daemon process until it should exit; returns the process exit status.
using DaemonMain = int (*)(const DaemonRunSpec& spec);

}  // namespace gantry

extern "C" int gantry_daemon_main(const gantry::DaemonRunSpec& spec);
