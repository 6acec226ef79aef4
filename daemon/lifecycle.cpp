#include "lifecycle.hpp"

#include <algorithm>
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

Lifecycle::Token Lifecycle::request_started() {
  std::lock_guard lock(mutex_);
  last_activity_ = Clock::now();
  Token token = next_token_++;
  running_.emplace(token, last_activity_);
  return token;
}

void Lifecycle::request_finished(Token token, std::string_view method, std::string_view uri) {
  std::uint64_t peak = peak_resident_bytes();
  std::uint64_t rss = spec_.maximum_memory ? resident_bytes() : 0;
  std::optional<DaemonExit> reason;
  std::uint64_t growth = 0;
  {
    std::lock_guard lock(mutex_);
    running_.erase(token);
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

bool Lifecycle::over_request_timeout(Clock::time_point now) const {
  if (spec_.request_timeout <= 0 || running_.empty()) return false;
  double total = 0;
  for (const auto& [token, started] : running_) total += std::chrono::duration<double>(now - started).count();
  return total / std::max(1u, spec_.threads) >= spec_.request_timeout;
}

DaemonExit Lifecycle::wait_for_exit() {
  using std::chrono::duration;
  const auto to_clock = [](double seconds) {
    return std::chrono::duration_cast<Clock::duration>(duration<double>(seconds));
  };
  // While requests run and request-timeout is set, look again every tenth of the limit
  // (at most once a second): the sum of running times grows with no event to wake us.
  const auto poll = to_clock(std::min(1.0, spec_.request_timeout / 10));
  std::unique_lock lock(mutex_);
  for (;;) {
    if (exit_) return *exit_;
    const auto now = Clock::now();
    if (over_request_timeout(now)) {
      Logger* log = spec_.logger;
      if (log) {
        auto oldest = std::min_element(running_.begin(), running_.end(),
                                       [](auto& a, auto& b) { return a.second < b.second; });
        log->log(Level::error, "GANTRY0212: daemon process over request-timeout: group " + spec_.group +
                                   ", pid " + std::to_string(getpid()) + ", " + std::to_string(running_.size()) +
                                   " request(s) running, the oldest for " +
                                   std::to_string(static_cast<long>(duration<double>(now - oldest->second).count())) +
                                   " s (limit " + std::to_string(static_cast<long>(spec_.request_timeout)) +
                                   " s); restarting it. Fix the slow handler or raise request-timeout=");
      }
      return *(exit_ = DaemonExit::request_timeout);
    }
    auto wake = Clock::time_point::max();
    if (spec_.inactivity_timeout > 0) {
      auto deadline = last_activity_ + to_clock(spec_.inactivity_timeout);
      if (running_.empty() && now >= deadline) return *(exit_ = DaemonExit::inactivity);
      wake = running_.empty() ? deadline : now + to_clock(spec_.inactivity_timeout);
    }
    if (spec_.request_timeout > 0 && !running_.empty()) wake = std::min(wake, now + poll);
    if (wake == Clock::time_point::max()) changed_.wait(lock);
    else changed_.wait_until(lock, wake);
  }
}

std::uint64_t Lifecycle::requests_served() const {
  std::lock_guard lock(mutex_);
  return served_;
}

}  // namespace gantry::daemon
