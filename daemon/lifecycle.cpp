#include "lifecycle.hpp"

#include <random>
#include <string>
#include <unistd.h>

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

}  // namespace

Lifecycle::Lifecycle(const DaemonRunSpec& spec)
    : spec_(spec), request_limit_(draw_request_limit(spec)), peak_before_(peak_resident_bytes()) {}

void Lifecycle::request_started() {
  std::lock_guard lock(mutex_);
  ++in_flight_;
  last_activity_ = Clock::now();
}

void Lifecycle::request_finished(std::string_view method, std::string_view uri) {
  std::uint64_t peak = peak_resident_bytes();
  std::uint64_t rss = spec_.maximum_memory ? resident_bytes() : 0;
  std::optional<DaemonExit> reason;
  std::uint64_t growth = 0;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    ++served_;
    last_activity_ = Clock::now();
    if (peak > peak_before_) {
      growth = peak - peak_before_;
      peak_before_ = peak;
    }
    if (request_limit_ && served_ >= request_limit_) reason = DaemonExit::maximum_requests;
    else if (spec_.maximum_memory && rss > spec_.maximum_memory) reason = DaemonExit::maximum_memory;
  }
  Logger* log = spec_.logger;
  if (log && spec_.memory_growth_log && growth >= spec_.memory_growth_log) {
    log->log(Level::notice, "GANTRY0210: request grew the peak memory of daemon process: group " +
                                spec_.group + ", pid " + std::to_string(getpid()) + ", " +
                                std::string(method) + " " + std::string(uri) + " raised the peak RSS by " +
                                mib(growth) + " (to " + mib(peak) +
                                "); consider moving this URL to its own WSGIDaemonProcess group");
  }
  if (reason == DaemonExit::maximum_memory && log) {
    log->log(Level::notice, "GANTRY0211: daemon process over maximum-memory: group " + spec_.group +
                                ", pid " + std::to_string(getpid()) + ", RSS " + mib(rss) + " > " +
                                mib(spec_.maximum_memory) + " after " + std::string(method) + " " +
                                std::string(uri) + "; recycling it");
  }
  if (reason) request_exit(*reason);
}

void Lifecycle::request_exit(DaemonExit reason) {
  {
    std::lock_guard lock(mutex_);
    if (exit_) return;
    exit_ = reason;
  }
  changed_.notify_all();
}

DaemonExit Lifecycle::wait_for_exit() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (exit_) return *exit_;
    if (spec_.inactivity_timeout <= 0) {
      changed_.wait(lock);
      continue;
    }
    auto idle_limit = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(spec_.inactivity_timeout));
    auto deadline = last_activity_ + idle_limit;
    if (in_flight_ == 0 && Clock::now() >= deadline) return *(exit_ = DaemonExit::inactivity);
    changed_.wait_until(lock, in_flight_ ? Clock::now() + idle_limit : deadline);
  }
}

std::uint64_t Lifecycle::requests_served() const {
  std::lock_guard lock(mutex_);
  return served_;
}

}  // namespace gantry::daemon
