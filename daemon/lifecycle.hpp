#pragma once
// When a daemon process should end, and why. The request threads report each request's
// start and end; signals and timers report theirs; the main thread waits for the first
// reason and then drains. Everything a recycle decision needs is here, so the rules of
// maximum-requests, maximum-memory, inactivity-timeout, request-timeout, restart-interval,
// deadlock-timeout, startup-timeout and script reloading read in one place.
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "gantry/daemon_api.hpp"
#include "gil_watch.hpp"

namespace gantry::daemon {

class Lifecycle {
 public:
  // `gil` (may be null): the ticker deadlock-timeout reads. `interrupt` (may be null):
  // PythonApi::interrupt_thread, for interrupt-timeout.
  using Interrupt = bool (*)(unsigned long thread_id, std::string* stack);
  Lifecycle(const DaemonRunSpec& spec, const GilWatch* gil, Interrupt interrupt);

  // Marks a request as running; the token identifies it to request_finished(). `target`
  // (may be null): with reload_on_change, a script whose mtime differs from when this
  // process first saw it restarts the process after this request (WSGIScriptReloading On
  // in daemon mode: the whole process is replaced, one process at a time).
  // `activity` false (WSGIIgnoreActivity On): the request does not count as activity for
  // inactivity-timeout - it neither resets the idle countdown nor keeps it from running.
  using Token = std::uint64_t;
  Token request_started(std::string_view method = {}, std::string_view uri = {},
                        const ScriptTarget* target = nullptr, bool activity = true);
  // After each request: counts it, logs a large peak-RSS growth with the URL that caused
  // it, and asks for a recycle when maximum-requests or maximum-memory says so.
  void request_finished(Token token, std::string_view method, std::string_view uri);
  // A signal or another component asks the process to end; the first reason wins.
  void request_exit(DaemonExit reason);
  // Blocks until the process should exit (also detects inactivity-timeout - idle, or
  // requests in flight without I/O -, startup-timeout, restart-interval,
  // deadlock-timeout and request-timeout: the running time of the requests in flight,
  // summed and divided by the number of request threads, past the limit - so one stuck
  // request in a 15-thread process restarts it only when it has held its thread 15 times
  // the limit, as mod_wsgi does).
  DaemonExit wait_for_exit();
  // Waits until nothing has been in flight or started for `quiet` seconds, or `limit`
  // seconds passed; true if it became quiet. (A retired generation's last stragglers.)
  bool wait_for_quiet(double quiet, double limit);
  std::uint64_t requests_served() const;
  // maximum-requests as drawn for this process (with its jitter); 0 = none.
  std::uint64_t request_limit() const { return request_limit_; }
  // The request was interrupted (interrupt-timeout): it is answered 504.
  bool interrupted(Token token) const;
  // Called on the request thread that starts the maximum-requests-th request (before the
  // application runs) or that finds RSS above maximum-memory: stops accepting right there,
  // so no further request is taken while the main thread wakes up. Set before requests
  // are served.
  void on_request_limit(std::function<void()> hook) { limit_hook_ = std::move(hook); }
  // "GET /stuck (running 12 s)" for every request in flight, oldest first.
  std::string describe_running() const;

  // A request read its body or wrote/flushed/sent part of its response (DaemonChannel).
  // inactivity-timeout restarts a process whose requests in flight all went that long
  // without any. Called on every read and write: one relaxed atomic store of a coarse
  // clock (vDSO, no syscall), skipped when the clock has not ticked since the last one.
  void note_io() noexcept {
    const std::int64_t now = coarse_now_ns();
    if (last_io_ns_.load(std::memory_order_relaxed) != now) last_io_ns_.store(now, std::memory_order_relaxed);
  }
  // inactivity-timeout ended the process because its requests made no I/O (not because it
  // was idle): they are stuck, so they get shutdown-timeout, not graceful-timeout.
  bool stalled() const;

  // startup-timeout (PythonApi::observe_script_loads): the first failed load of a WSGI
  // script arms the deadline, a successful load disarms it for good.
  void script_loaded(bool ok, std::string_view script_path);
  static void on_script_load(void* self, bool ok, std::string_view script_path) {
    static_cast<Lifecycle*>(self)->script_loaded(ok, script_path);
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Running {
    Clock::time_point started;
    std::string what;  // "GET /uri"
    unsigned long thread = 0;  // pthread id of its request thread
    bool interrupted = false;  // mod_wsgi.RequestTimeout was raised in it
    bool activity = true;      // false: WSGIIgnoreActivity On
  };
  const DaemonRunSpec& spec_;
  const GilWatch* gil_;
  const Interrupt interrupt_;
  std::uint64_t request_limit_;  // maximum-requests with this process's jitter; 0 = none
  const Clock::time_point born_ = Clock::now();
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<DaemonExit> exit_;
  std::uint64_t served_ = 0;
  // inactivity-timeout sees only requests that count as activity (not WSGIIgnoreActivity).
  std::uint64_t active_served_ = 0;
  std::size_t active_running_ = 0;
  std::uint64_t started_ = 0;
  std::function<void()> limit_hook_;
  std::map<Token, Running> running_;  // the requests in flight
  Token next_token_ = 0;
  Clock::time_point last_activity_ = Clock::now();
  unsigned quiet_waiters_ = 0;  // threads in wait_for_quiet()
  std::uint64_t peak_before_ = 0;
  std::map<std::string, std::int64_t, std::less<>> script_mtimes_;  // ns, at first sight
  // interrupt-timeout: requests interrupted, and when the process restarts if they run on.
  std::map<Token, bool> interrupted_;  // token -> still running
  std::optional<Clock::time_point> interrupt_deadline_;
  bool start_interrupts(Clock::time_point now);  // mutex_ held; false: nothing to interrupt

  // inactivity-timeout while requests run: the last request I/O (CLOCK_MONOTONIC_COARSE,
  // ns; request starts and ends count too, through last_activity_). `stalled_`: it fired.
  static std::int64_t coarse_now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
  std::atomic<std::int64_t> last_io_ns_{0};
  bool stalled_ = false;
  // wait_for_exit() sleeps with no inactivity deadline armed (nothing served yet):
  // request_started() must wake it, so that inactivity-timeout sees a first request that
  // hangs from its first instruction.
  bool main_waits_for_start_ = false;
  // startup-timeout: pending (nothing loaded yet), failing (deadline armed), loaded.
  enum class Startup { pending, failing, loaded };
  Startup startup_ = Startup::pending;
  Clock::time_point startup_deadline_;
  std::string startup_script_;  // the script whose load failed first

  // mutex_ held; true (logged) when the requests in flight made no I/O for inactivity-timeout.
  bool requests_stalled(Clock::time_point now, Clock::time_point* wake);
  bool over_request_timeout(Clock::time_point now) const;  // mutex_ held
  std::string describe_running_locked(Clock::time_point now) const;
  void check_script(const ScriptTarget& target);
};

}  // namespace gantry::daemon
