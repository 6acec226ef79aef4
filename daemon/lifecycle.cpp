#include "lifecycle.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "process_memory.hpp"

namespace gantry::daemon {
namespace {

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::uint64_t draw_request_limit(const DaemonRunSpec& spec) {
  if (spec.maximum_requests == 0 || spec.maximum_requests_jitter == 0) return spec.maximum_requests;
  // Each process draws its own limit so that a group's processes do not recycle together.
  std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(getpid()));
  std::uniform_int_distribution<std::uint64_t> extra(0, spec.maximum_requests_jitter);
  return spec.maximum_requests + extra(rng);
}

std::string seconds_text(double seconds) { return std::to_string(static_cast<long>(seconds)) + " s"; }

}  // namespace

Lifecycle::Lifecycle(const DaemonRunSpec& spec, const GilWatch* gil, Interrupt interrupt)
    : spec_(spec), gil_(gil), interrupt_(interrupt), request_limit_(draw_request_limit(spec)),
      peak_before_(peak_resident_bytes()) {}

Lifecycle::Token Lifecycle::request_started(std::string_view method, std::string_view uri,
                                            const ScriptTarget* target, bool activity) {
  if (target && target->reload_on_change) check_script(*target);
  std::string what(method);
  if (!uri.empty()) what.append(what.empty() ? "" : " ").append(uri);
  bool at_limit = false;
  bool wake_main = false;
  Token token;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    token = next_token_++;
    running_.emplace(token, Running{now, std::move(what), pthread_self(), false, activity});
    // maximum-requests counts the requests a process takes: the last one is this one.
    at_limit = request_limit_ && ++started_ == request_limit_;
    if (activity) {
      last_activity_ = now;
      ++active_running_;
      wake_main = std::exchange(main_waits_for_start_, false);
    }
  }
  if (wake_main) changed_.notify_all();  // at most once per idle spell of a fresh process
  if (at_limit) {
    if (limit_hook_) limit_hook_();
    request_exit(DaemonExit::maximum_requests);
  }
  return token;
}

void Lifecycle::check_script(const ScriptTarget& target) {
  struct stat st{};
  if (target.script_path.empty() || stat(std::string(target.script_path).c_str(), &st) != 0) return;
  const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    auto it = script_mtimes_.find(target.script_path);
    if (it == script_mtimes_.end()) script_mtimes_.emplace(std::string(target.script_path), mtime);
    else changed = it->second != mtime && !exit_;
  }
  if (!changed) return;
  if (spec_.logger)
    spec_.logger->log(Level::info, "GANTRY0213: WSGI script " + std::string(target.script_path) +
                                       " changed (WSGIScriptReloading On): daemon process group " +
                                       spec_.group + ", pid " + std::to_string(getpid()) +
                                       " restarts gracefully after this request");
  request_exit(DaemonExit::script_changed);
}

void Lifecycle::request_finished(Token token, std::string_view method, std::string_view uri) {
  // Two syscalls at most, and none when nothing reads the figures.
  std::uint64_t peak = spec_.memory_growth_log || spec_.board ? peak_resident_bytes() : 0;
  std::uint64_t rss = spec_.maximum_memory || spec_.note_rss || spec_.board ? resident_bytes() : 0;
  if (spec_.note_rss) spec_.note_rss(rss);
  if (spec_.board) spec_.board->note_rss(rss, peak);
  std::optional<DaemonExit> reason;
  std::uint64_t growth = 0;
  bool wake_main = false;
  {
    std::lock_guard lock(mutex_);
    bool activity = true;
    if (auto it = running_.find(token); it != running_.end()) {
      activity = it->second.activity;
      running_.erase(it);
    }
    if (auto it = interrupted_.find(token); it != interrupted_.end()) {
      it->second = false;
      wake_main = true;  // wait_for_exit(): the interrupted requests may all have ended
    }
    ++served_;
    if (activity) {
      --active_running_;
      ++active_served_;
    }
    // Waking the main thread is a futex syscall and a context switch: only when it waits
    // for this. wait_for_quiet() counts requests in flight; wait_for_exit() arms
    // inactivity-timeout with the first request served. Its other timers need no event:
    // an inactivity deadline only moves later, request-timeout is polled, and exit
    // reasons notify in request_exit().
    wake_main = wake_main || quiet_waiters_ > 0 ||
                (activity && active_served_ == 1 && spec_.inactivity_timeout > 0);
    if (activity) last_activity_ = Clock::now();
    if (peak > peak_before_) {
      growth = peak - peak_before_;
      peak_before_ = peak;
    }
  }
  // maximum-memory counts what this process alone holds (USS): a process forked from its
  // group's template maps the shared Python (and, with preload=On, the application) too, which
  // its exit would not free. RSS >= USS, so the walk of smaps_rollup is only needed (and only
  // paid for) once RSS alone is over the limit.
  MemoryRollup over;
  if (spec_.maximum_memory && rss > spec_.maximum_memory) {
    over = memory_rollup();
    if (over.uss > spec_.maximum_memory || over.rss == 0) reason = DaemonExit::maximum_memory;
  }
  if (wake_main) changed_.notify_all();
  Logger* log = spec_.logger;
  if (spec_.board && spec_.memory_growth_log && growth >= spec_.memory_growth_log) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    spec_.board->note_growth(method, uri, now_us, peak - growth, peak);  // the status page's record
  }
  if (log && spec_.memory_growth_log && growth >= spec_.memory_growth_log) {
    log->log(Level::notice, "GANTRY0210: request grew the peak memory of daemon process: group " +
                                spec_.group + ", pid " + std::to_string(getpid()) + ", " +
                                std::string(method) + " " + std::string(uri) + " raised the peak RSS by " +
                                mib(growth) + " (to " + mib(peak) + "; now " + describe_memory(memory_rollup()) +
                                "); consider moving this URL to its own WSGIDaemonProcess group");
  }
  if (reason == DaemonExit::maximum_memory && log) {
    log->log(Level::notice, "GANTRY0211: daemon process over maximum-memory: group " + spec_.group +
                                ", pid " + std::to_string(getpid()) + ", USS " + mib(over.uss ? over.uss : rss) +
                                " > " + mib(spec_.maximum_memory) + " (" + describe_memory(over) + ") after " +
                                std::string(method) + " " +
                                std::string(uri) + "; recycling it");
  }
  if (reason) {
    if (limit_hook_) limit_hook_();  // stop taking requests before this thread is idle again
    request_exit(*reason);
  }
}

void Lifecycle::request_exit(DaemonExit reason) {
  {
    std::lock_guard lock(mutex_);
    if (exit_) return;
    exit_ = reason;
  }
  changed_.notify_all();
}

void Lifecycle::script_loaded(bool ok, std::string_view script_path) {
  if (spec_.startup_timeout <= 0) return;
  {
    std::lock_guard lock(mutex_);
    // mod_wsgi's rule: only a failure before anything loaded arms the timer, and the
    // first success ends it for the life of the process.
    if (startup_ == Startup::loaded) return;
    if (ok) {
      startup_ = Startup::loaded;
      return;  // wait_for_exit() finds nothing at the old deadline and sleeps on
    }
    if (startup_ == Startup::failing) return;
    startup_ = Startup::failing;
    startup_script_ = script_path;
    startup_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(spec_.startup_timeout));
  }
  changed_.notify_all();  // a new deadline for wait_for_exit(); once per process
}

bool Lifecycle::stalled() const {
  std::lock_guard lock(mutex_);
  return stalled_;
}

bool Lifecycle::requests_stalled(Clock::time_point now, Clock::time_point* wake) {
  using std::chrono::duration;
  // Quiet since the later of the last request I/O and the last request start or end.
  const std::int64_t io_ns = last_io_ns_.load(std::memory_order_relaxed);
  double quiet = duration<double>(now - last_activity_).count();
  if (io_ns != 0) quiet = std::min(quiet, static_cast<double>(coarse_now_ns() - io_ns) / 1e9);
  if (quiet < spec_.inactivity_timeout) {
    // 10 ms late: the coarse clock may lag by a tick, and waking early would only loop.
    const double left = spec_.inactivity_timeout - quiet + 0.01;
    *wake = std::min(*wake, now + std::chrono::duration_cast<Clock::duration>(duration<double>(left)));
    return false;
  }
  stalled_ = true;
  if (spec_.logger)
    spec_.logger->log(Level::error, "GANTRY0218: daemon process over inactivity-timeout with requests in "
                                    "flight: group " + spec_.group + ", pid " + std::to_string(getpid()) +
                                    ": none of them read request content or wrote response content for " +
                                    seconds_text(quiet) + " (inactivity-timeout=" +
                                    seconds_text(spec_.inactivity_timeout) + "); running: " +
                                    describe_running_locked(now) +
                                    "; restarting it. Fix the handler that blocks without I/O or raise "
                                    "inactivity-timeout=");
  return true;
}

bool Lifecycle::over_request_timeout(Clock::time_point now) const {
  if (spec_.request_timeout <= 0 || running_.empty()) return false;
  double total = 0;
  for (const auto& [token, r] : running_) total += std::chrono::duration<double>(now - r.started).count();
  return total / std::max(1u, spec_.threads) >= spec_.request_timeout;
}

std::string Lifecycle::describe_running_locked(Clock::time_point now) const {
  std::vector<const Running*> order;
  for (const auto& [token, r] : running_) order.push_back(&r);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->started < b->started; });
  std::string text;
  for (const Running* r : order) {
    if (!text.empty()) text += ", ";
    text += (r->what.empty() ? std::string("(request)") : r->what) + " (running " +
            seconds_text(std::chrono::duration<double>(now - r->started).count()) + ")";
  }
  return text.empty() ? "none" : text;
}

std::string Lifecycle::describe_running() const {
  std::lock_guard lock(mutex_);
  return describe_running_locked(Clock::now());
}

DaemonExit Lifecycle::wait_for_exit() {
  using std::chrono::duration;
  const auto to_clock = [](double seconds) {
    return std::chrono::duration_cast<Clock::duration>(duration<double>(seconds));
  };
  // While requests run and request-timeout is set, look again every tenth of the limit
  // (at most once a second): the sum of running times grows with no event to wake us.
  // The GIL ticker is polled the same way.
  const auto poll = to_clock(std::min(1.0, spec_.request_timeout / 10));
  const auto gil_poll = to_clock(std::min(1.0, spec_.deadlock_timeout / 4));
  const std::string who = "group " + spec_.group + ", pid " + std::to_string(getpid());
  Logger* log = spec_.logger;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (exit_) return *exit_;
    const auto now = Clock::now();
    if (interrupt_deadline_) {
      // Interrupted requests: keep the process if they all ended in time.
      bool running_on = false;
      for (const auto& [token, still] : interrupted_) running_on |= still;
      if (!running_on) {
        if (log)
          log->log(Level::notice, "GANTRY0216: the interrupted request(s) ended; daemon process " + who +
                                      " keeps running");
        interrupt_deadline_.reset();
        interrupted_.clear();
      } else if (now < *interrupt_deadline_) {
        changed_.wait_until(lock, std::min(*interrupt_deadline_, now + poll));
        continue;
      }
    }
    if (over_request_timeout(now) && !interrupt_deadline_ && spec_.interrupt_timeout > 0 &&
        interrupt_ && start_interrupts(now)) {
      interrupt_deadline_ = now + to_clock(spec_.interrupt_timeout);
      continue;
    }
    if (over_request_timeout(now)) {
      if (log)
        log->log(Level::error, "GANTRY0212: daemon process over request-timeout: " + who + ", " +
                                   std::to_string(running_.size()) + " request(s) running: " +
                                   describe_running_locked(now) + " (limit " +
                                   seconds_text(spec_.request_timeout) + " per thread, " +
                                   std::to_string(spec_.threads) +
                                   " threads); restarting it. Fix the slow handler or raise "
                                   "request-timeout=");
      return *(exit_ = DaemonExit::request_timeout);
    }
    if (gil_ && spec_.deadlock_timeout > 0 && gil_->seconds_since_tick() >= spec_.deadlock_timeout) {
      if (log)
        log->log(Level::error, "GANTRY0214: daemon process deadlocked: " + who +
                                   ": no thread could take the Python GIL for " +
                                   seconds_text(gil_->seconds_since_tick()) + " (deadlock-timeout=" +
                                   seconds_text(spec_.deadlock_timeout) + "); requests in flight: " +
                                   describe_running_locked(now) +
                                   "; restarting it. Look for C extensions that block while holding "
                                   "the GIL");
      return *(exit_ = DaemonExit::deadlock);
    }
    if (spec_.restart_interval > 0 && now - born_ >= to_clock(spec_.restart_interval))
      return *(exit_ = DaemonExit::restart_interval);
    auto wake = Clock::time_point::max();
    if (startup_ == Startup::failing) {
      if (now >= startup_deadline_) {
        if (log)
          log->log(Level::error, "GANTRY0217: daemon process could not load its WSGI script within "
                                 "startup-timeout: " + who + ", script " + startup_script_ +
                                 " failed to load and no later attempt succeeded within " +
                                 seconds_text(spec_.startup_timeout) +
                                 "; restarting it. Fix the import error shown above or raise "
                                 "startup-timeout=");
        return *(exit_ = DaemonExit::startup_timeout);
      }
      wake = startup_deadline_;
    }
    if (spec_.inactivity_timeout > 0 && active_running_ > 0) {
      // Requests in flight that neither read nor write (mod_wsgi's second use of the option).
      if (requests_stalled(now, &wake)) return *(exit_ = DaemonExit::inactivity);
    } else if (spec_.inactivity_timeout > 0 && active_served_ > 0) {
      // A process that has served nothing is at its base size already: restarting it would
      // only churn (mod_wsgi also arms the idle timer with the first request).
      const auto deadline = last_activity_ + to_clock(spec_.inactivity_timeout);
      if (now >= deadline) return *(exit_ = DaemonExit::inactivity);
      wake = std::min(wake, deadline);
    }
    // No inactivity deadline armed yet: the first request's start must wake us.
    main_waits_for_start_ = spec_.inactivity_timeout > 0 && active_running_ == 0 && active_served_ == 0;
    // Polled even while nothing runs: request_started() does not wake this thread, so a
    // request that starts (and hangs) while it sleeps must still be seen.
    if (spec_.request_timeout > 0) wake = std::min(wake, now + poll);
    if (gil_ && spec_.deadlock_timeout > 0) wake = std::min(wake, now + gil_poll);
    if (spec_.restart_interval > 0) wake = std::min(wake, born_ + to_clock(spec_.restart_interval));
    if (wake == Clock::time_point::max()) changed_.wait(lock);
    else changed_.wait_until(lock, wake);
    main_waits_for_start_ = false;
  }
}

bool Lifecycle::start_interrupts(Clock::time_point now) {
  struct Victim {
    unsigned long thread;
    std::string what;
  };
  auto* victims = new std::vector<Victim>;
  for (auto& [token, r] : running_) {
    if (r.interrupted || now - r.started < std::chrono::duration<double>(spec_.request_timeout)) continue;
    r.interrupted = true;
    interrupted_[token] = true;
    victims->push_back({r.thread, r.what + " (running " +
                                      seconds_text(std::chrono::duration<double>(now - r.started).count()) + ")"});
  }
  if (victims->empty()) {
    delete victims;
    return false;
  }
  // Raising takes the GIL, which a stuck request may hold: never on this (the main) thread.
  struct Job {
    const DaemonRunSpec* spec;
    Interrupt interrupt;
    std::vector<Victim>* victims;
  };
  auto* job = new Job{&spec_, interrupt_, victims};
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  const int rc = pthread_create(&thread, &attr, [](void* arg) -> void* {
    std::unique_ptr<Job> job(static_cast<Job*>(arg));
    std::unique_ptr<std::vector<Victim>> victims(job->victims);
    const DaemonRunSpec& spec = *job->spec;
    for (const Victim& v : *victims) {
      std::string stack;
      const bool raised = job->interrupt(v.thread, &stack);
      if (spec.logger)
        spec.logger->log(Level::error, "GANTRY0215: request-timeout: " +
                                           std::string(raised ? "raised mod_wsgi.RequestTimeout in "
                                                              : "could not interrupt ") +
                                           v.what + " in daemon process group " + spec.group + ", pid " +
                                           std::to_string(getpid()) + "; restarting the process in " +
                                           seconds_text(spec.interrupt_timeout) +
                                           " unless it ends. Its Python stack:");
      // One line per stack line, as tracebacks are logged (Apache escapes newlines).
      std::size_t at = 0;
      while (spec.logger && at < stack.size()) {
        std::size_t end = stack.find('\n', at);
        if (end == std::string::npos) end = stack.size();
        if (end > at) spec.logger->log(Level::error, "GANTRY0215: " + stack.substr(at, end - at));
        at = end + 1;
      }
    }
    return nullptr;
  }, job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete victims;
    delete job;
    return false;
  }
  return true;
}

bool Lifecycle::interrupted(Token token) const {
  std::lock_guard lock(mutex_);
  return interrupted_.count(token) != 0;
}

bool Lifecycle::wait_for_quiet(double quiet, double limit) {
  const auto to_clock = [](double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  };
  const auto end = Clock::now() + to_clock(limit);
  std::unique_lock lock(mutex_);
  ++quiet_waiters_;  // request_finished() notifies only while someone waits here
  struct Leave {
    unsigned& waiters;
    ~Leave() { --waiters; }
  } leave{quiet_waiters_};
  for (;;) {
    const auto now = Clock::now();
    const auto quiet_at = last_activity_ + to_clock(quiet);
    if (running_.empty() && now >= quiet_at) return true;
    if (now >= end) return false;
    changed_.wait_until(lock, std::min(end, running_.empty() ? quiet_at : end));
  }
}

std::uint64_t Lifecycle::requests_served() const {
  std::lock_guard lock(mutex_);
  return served_;
}

}  // namespace gantry::daemon
