// Entry point of a daemon process, called by the supervisor's forked child after it dropped
// privileges and loaded this object. Owns the process until it exits.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <string>
#include <unistd.h>

#include "connection.hpp"
#include "gantry/daemon_api.hpp"
#include "lifecycle.hpp"
#include "process_memory.hpp"
#include "worker_pool.hpp"

namespace gantry::daemon {
namespace {

std::string mib(std::uint64_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

struct SignalWatch {
  sigset_t set;
  Lifecycle* life;
};

// A dedicated thread turns signals into lifecycle events, so no request thread is ever
// interrupted by one and no async-signal-safety rules constrain what happens next.
void* watch_signals(void* arg) {
  auto* watch = static_cast<SignalWatch*>(arg);
  for (;;) {
    int sig = 0;
    if (sigwait(&watch->set, &sig) != 0) continue;
    if (sig == SIGTERM || sig == SIGHUP) watch->life->request_exit(DaemonExit::shutdown);
    else if (sig == SIGUSR1 || sig == SIGINT) watch->life->request_exit(DaemonExit::restart_signal);
  }
  return nullptr;
}

int run(const DaemonRunSpec& spec) {
  Logger* log = spec.logger;
  const std::string who = "group " + spec.group + ", pid " + std::to_string(getpid());

  // Block the signals we handle before any thread exists, so every thread inherits the mask
  // and only the watcher receives them. A vanished Apache child must not kill us: EPIPE.
  static SignalWatch watch;
  sigemptyset(&watch.set);
  for (int sig : {SIGTERM, SIGHUP, SIGUSR1, SIGINT}) sigaddset(&watch.set, sig);
  pthread_sigmask(SIG_BLOCK, &watch.set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Siblings share the listening socket: accept must not block when one of them wins.
  int flags = fcntl(spec.listen_fd, F_GETFL);
  if (flags < 0 || fcntl(spec.listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    if (log) log->log(Level::error, "GANTRY0201: daemon process cannot use its listening socket (" + who +
                                        "): " + std::strerror(errno));
    return static_cast<int>(DaemonExit::startup_failed);
  }

  const PythonApi* python = gantry_python_api();
  if (!python || !python->initialize(spec.python)) {
    if (log) log->log(Level::error, "GANTRY0202: daemon process could not start Python (" + who +
                                        "); see the preceding lines, and check python-home= and "
                                        "python-path= of WSGIDaemonProcess " + spec.group);
    return static_cast<int>(DaemonExit::startup_failed);
  }
  for (const PreloadScript& script : spec.preload) {
    ScriptTarget target{script.script_path, script.application_group, script.callable, false};
    python->import_script(target);  // a failure is logged by the adapter; requests retry it
  }

  Lifecycle life(spec);
  watch.life = &life;
  pthread_t watcher;
  pthread_create(&watcher, nullptr, &watch_signals, &watch);
  pthread_detach(watcher);

  WorkerPool pool(spec.listen_fd, spec.threads, spec.stack_size,
                  [&](int fd) { serve_connection(fd, spec, *python, life); });
  pool.start();
  if (log) log->log(Level::info, "GANTRY0203: daemon process ready: " + who + ", " +
                                     std::to_string(spec.threads) + " threads, RSS " +
                                     mib(resident_bytes()));

  DaemonExit reason = life.wait_for_exit();
  pool.stop_accepting();
  // A stop, or a restart because requests hang, waits shutdown-timeout for the rest; a
  // recycle lets the requests in flight finish within graceful-timeout.
  const bool urgent = reason == DaemonExit::shutdown || reason == DaemonExit::request_timeout;
  double bound = urgent ? spec.shutdown_timeout : spec.graceful_timeout;
  bool drained = pool.drain(bound);
  if (log) {
    const char* why = describe_daemon_exit(static_cast<int>(reason));
    log->log(Level::info, "GANTRY0204: daemon process exiting: " + who + ", " + (why ? why : "?") +
                              ", after " + std::to_string(life.requests_served()) + " requests, RSS " +
                              mib(resident_bytes()) +
                              (drained ? "" : "; requests still in flight were cut off after " +
                                                  std::to_string(bound) + " s"));
  }
  // Python's own finalisation would wait on threads still inside the app: only run the
  // atexit handlers when nothing is in flight, and never tear interpreters down.
  if (drained) python->shutdown();
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
