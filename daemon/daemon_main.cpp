// Entry point of a daemon process, called by the supervisor's forked child after it dropped
// privileges and loaded this object. Owns the process until it exits.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <string>
#include <system_error>
#include <unistd.h>

#include "connection.hpp"
#include "fork_guard.hpp"
#include "gantry/daemon_api.hpp"
#include "gil_watch.hpp"
#include "lifecycle.hpp"
#include "loader_pages.hpp"
#include "memory_sampler.hpp"
#include "process_memory.hpp"
#include "signal_relay.hpp"
#include "worker_pool.hpp"

namespace gantry::daemon {
namespace {

constexpr int kStandbyWaitSteps = 500;           // x 10 ms: kStandbyWait = 5 s
constexpr useconds_t kStandbyWaitStepUs = 10000;

// mod_wsgi's shutdown_reason (process_stopping event) for why this process exits.
const char* shutdown_reason(DaemonExit reason) {
  switch (reason) {
    case DaemonExit::shutdown: return "shutdown_signal";
    case DaemonExit::restart_signal: return "graceful_signal";
    case DaemonExit::retired: return "graceful_signal";  // Apache's graceful restart
    case DaemonExit::maximum_requests: return "maximum_requests";
    case DaemonExit::inactivity: return "inactivity_timeout";
    case DaemonExit::maximum_memory: return "maximum_memory";  // Gantry's own option
    case DaemonExit::request_timeout: return "request_timeout";
    case DaemonExit::deadlock: return "deadlock_timeout";
    case DaemonExit::script_changed: return "script_reload";
    case DaemonExit::restart_interval: return "restart_interval";
    case DaemonExit::cpu_time_limit: return "cpu_time_limit";
    case DaemonExit::startup_timeout: return "startup_timeout";
    case DaemonExit::startup_failed: break;
  }
  return "";
}

// The daemon's signal thread turns the signals signal_relay passes on into lifecycle
// events, so no async-signal-safety rules constrain what happens next.
void* watch_signals(void* arg) {
  auto* life = static_cast<Lifecycle*>(arg);
  for (;;) {
    const int sig = signal_relay::next();
    if (sig == 0) break;
    if (sig == SIGTERM) life->request_exit(DaemonExit::shutdown);
    else if (sig == SIGUSR1 || sig == SIGINT) life->request_exit(DaemonExit::restart_signal);
    else if (sig == kRetireSignal) life->request_exit(DaemonExit::retired);
    // cpu-time-limit: the soft RLIMIT_CPU was reached; the hard limit (SIGKILL) follows
    // after shutdown-timeout, so the requests in flight get that long.
    else if (sig == SIGXCPU) life->request_exit(DaemonExit::cpu_time_limit);
  }
  signal_relay::uninstall();  // nobody relays any more: the default actions stop the process
  return nullptr;
}

int run(const DaemonRunSpec& spec) {
  Logger* log = spec.logger;
  const std::string who = "group " + spec.group + ", pid " + std::to_string(getpid());

  // The signals we act on are caught, never blocked, before any thread exists: what the
  // application starts must not inherit a blocked mask (signal_relay.hpp). A vanished
  // Apache child must not kill us: EPIPE. A write past RLIMIT_FSIZE fails with EFBIG
  // instead of killing the process, as under Apache (mod_wsgi) and in a plain python3;
  // both stay ignored in the application's children as they do there.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    signal_relay::install({SIGTERM, SIGUSR1, SIGINT, kRetireSignal, SIGXCPU});
  } catch (const std::system_error& e) {
    if (log) log->log(Level::error, "GANTRY0720: daemon process cannot take its signals (" + who +
                                        "): " + e.what() + "; it exits and is started again");
    return static_cast<int>(DaemonExit::startup_failed);
  }

  // Siblings share the listening socket: accept must not block when one of them wins.
  int flags = fcntl(spec.listen_fd, F_GETFL);
  if (flags < 0 || fcntl(spec.listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    if (log) log->log(Level::error, "GANTRY0201: daemon process cannot use its listening socket (" + who +
                                        "): " + std::strerror(errno));
    return static_cast<int>(DaemonExit::startup_failed);
  }

  // Before Python, preloads or request threads: whatever forks from here on is guarded
  // (fork_guard.hpp). Room for the listener, the pool's eventfd, one epoll instance and one
  // connection per request thread.
  try {
    fork_guard::install(log, spec.group, 2 * spec.threads + 8);
  } catch (const std::system_error& e) {
    if (log) log->log(Level::error, "GANTRY0505: daemon process cannot guard against forks (" + who +
                                        "): " + e.what());
    return static_cast<int>(DaemonExit::startup_failed);
  }
  fork_guard::guard(spec.listen_fd);

  const PythonApi* python = gantry_python_api();
  if (!python || !python->initialize(spec.python)) {
    if (log) log->log(Level::error, "GANTRY0202: daemon process could not start Python (" + who +
                                        "); see the preceding lines, and check python-home= and "
                                        "python-path= of WSGIDaemonProcess " + spec.group);
    return static_cast<int>(DaemonExit::startup_failed);
  }
  static GilWatch gil;  // static: its thread outlives run() until the process exits
  // Leaked on purpose, like the pool below: threads cut off at exit may still touch it.
  Lifecycle& life = *new Lifecycle(spec, spec.deadlock_timeout > 0 ? &gil : nullptr,
                                   python->interrupt_thread);
  // startup-timeout counts from the first failed load, preloads included.
  if (spec.startup_timeout > 0) python->observe_script_loads(&Lifecycle::on_script_load, &life);
  for (const PreloadScript& script : spec.preload) {
    ScriptTarget target{script.script_path, script.application_group, script.callable, false};
    python->import_script(target);  // a failure is logged by the adapter; requests retry it
    fork_guard::leave_if_fork("the import of a preloaded script");
  }
  // Subscribers (mod_wsgi.subscribe_events) learn that this process is about to serve: the
  // after-fork hook of an application the template preloaded (docs/template.md).
  python->process_started(spec.template_pid, spec.preloaded);
  // Python is up and the preloads are in: what the loader alone needed can go. Not in a
  // process forked from its group's template: fork() copies no page-table entries of a
  // file mapping nobody wrote, so those pages are not in this process unless it touches
  // them, and walking every loaded object with madvise() took 2 ms (median, loaded 2-core
  // VM) of a standby's 7 ms from its turn to serving (bench/results/template.md).
  if (spec.template_pid == 0) release_loader_pages();
  if (spec.deadlock_timeout > 0) {
    if (const int error = gil.start(); error != 0 && log)
      log->log(Level::error, "GANTRY0523: daemon process cannot start its deadlock-timeout watcher "
                             "thread (" + who + "): " + std::strerror(error) +
                             "; deadlock-timeout is not enforced in this process");
  }
  pthread_t watcher;
  if (const int error = pthread_create(&watcher, nullptr, &watch_signals, &life); error != 0) {
    // Without the watcher nobody acts on the relayed signals: the process could only be
    // stopped with SIGKILL. Give them back their default action and give up instead.
    signal_relay::uninstall();
    if (log)
      log->log(Level::error, "GANTRY0524: daemon process cannot start its signal thread (" + who +
                                 "): " + std::strerror(error) + "; it exits and is started again");
    return static_cast<int>(DaemonExit::startup_failed);
  }
  pthread_detach(watcher);

  // Never destroyed: its destructor joins the request threads, and a process that exits
  // with a request cut off (or a deadlock) must not wait on them. The process exits next.
  WorkerPool& pool = *new WorkerPool(spec.listen_fd, spec.threads, spec.stack_size,
                                     [&](ScopedFd fd) { serve_connection(std::move(fd), spec, *python, life); });
  // At the maximum-requests-th request: stop taking more at once, unless the standby is
  // not ready (see below), in which case the main thread decides.
  pool.log_to(log, who);
  life.on_request_limit([&] {
    if (!spec.standby_ready || spec.standby_ready()) pool.stop_accepting();
  });
  // The limit is on the board before the first accept: a request this process serves can
  // be answered before the lines below run, and the status page must not show it limitless.
  if (spec.board) spec.board->set_request_limit(life.request_limit());
  pool.start();
  if (spec.board) {  // the gantry-status page: this process now serves
    spec.board->set_state(scoreboard::State::serving);
    start_memory_sampler(spec.board);
  }
  if (log) log->log(Level::info, "GANTRY0203: daemon process ready: " + who + ", " +
                                     std::to_string(spec.threads) + " threads, " +
                                     describe_memory(memory_rollup()) +
                                     (life.request_limit() ? ", maximum-requests " +
                                                                 std::to_string(life.request_limit())
                                                           : std::string()));

  DaemonExit reason = life.wait_for_exit();
  if (spec.board) spec.board->draining(static_cast<int>(reason));
  // How long the requests in flight may still run: first a grace period, then (unless
  // the reason is urgent already) shutdown-timeout more. Then the process exits, cutting
  // off what is left (the Apache child answers 502 for those).
  double grace = spec.graceful_timeout, more = spec.shutdown_timeout;
  switch (reason) {
    case DaemonExit::shutdown:
    case DaemonExit::request_timeout:
    case DaemonExit::cpu_time_limit:
    case DaemonExit::startup_timeout:
      grace = spec.shutdown_timeout, more = 0;
      break;
    case DaemonExit::inactivity:  // requests stuck without I/O are treated as request-timeout
      if (life.stalled()) grace = spec.shutdown_timeout, more = 0;
      break;
    case DaemonExit::deadlock:  // nothing can finish without the GIL
      grace = 0, more = 0;
      break;
    case DaemonExit::restart_signal:
      if (spec.eviction_timeout > 0) grace = spec.eviction_timeout;
      break;
    case DaemonExit::retired:
      // The old generation's socket only gets the last requests of Apache's old children:
      // serve them until quiet for a moment (bounded by graceful-timeout), then leave.
      life.wait_for_quiet(0.5, spec.graceful_timeout);
      grace = 0;
      break;
    default:
      break;
  }
  // A planned recycle does not leave the socket without a process: when the standby is
  // not waiting yet (the parent forks it within a second of the previous recycle, so
  // only a process recycling faster than that sees this), keep serving until it is, at
  // most kStandbyWait. maximum-memory and the restarts an operator or a stuck process
  // asked for do not wait.
  const bool planned = reason == DaemonExit::maximum_requests || reason == DaemonExit::restart_interval ||
                       reason == DaemonExit::script_changed;
  if (planned && spec.standby_ready) {
    for (int i = 0; i < kStandbyWaitSteps && !spec.standby_ready(); ++i) usleep(kStandbyWaitStepUs);
  }
  pool.stop_accepting();
  // A recycle: the slot's standby takes the socket over now, while this process drains.
  // Apache stopping or restarting starts its own processes.
  if (reason != DaemonExit::shutdown && reason != DaemonExit::retired && spec.hand_over)
    spec.hand_over();
  bool drained = pool.drain(grace) || (more > 0 && pool.drain(more));
  if (log) {
    const char* why = describe_daemon_exit(static_cast<int>(reason));
    // One line per restart, whatever the reason: the parent repeats it only at debug level.
    log->log(Level::info, "GANTRY0204: daemon process exiting: " + who + ", " + (why ? why : "?") +
                              ", after " + std::to_string(life.requests_served()) + " requests, " +
                              describe_memory(memory_rollup()) +
                              (drained ? "" : "; requests still in flight were cut off: " +
                                                  life.describe_running()));
  }
  // Python's own finalisation would wait on threads still inside the app: only run
  // mod_wsgi's shutdown callbacks and the atexit handlers when nothing is in flight, and
  // never tear interpreters down.
  if (drained && reason != DaemonExit::deadlock) python->shutdown_for(shutdown_reason(reason));
  fork_guard::leave_if_fork("the daemon's shutdown");  // an atexit handler that forked
  return static_cast<int>(reason);
}

}  // namespace
}  // namespace gantry::daemon

extern "C" __attribute__((visibility("default"))) int gantry_daemon_main(const gantry::DaemonRunSpec& spec) {
  try {
    return gantry::daemon::run(spec);
  } catch (const std::exception& e) {
    if (spec.logger) spec.logger->log(gantry::Level::error, std::string("GANTRY0205: daemon process failed: ") + e.what());
  } catch (...) {
    if (spec.logger) spec.logger->log(gantry::Level::error, "GANTRY0205: daemon process failed: unknown exception");
  }
  return static_cast<int>(gantry::DaemonExit::startup_failed);
}
