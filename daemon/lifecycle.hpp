#pragma once
// When a daemon process should end, and why. The request threads report each request's
// start and end; signals and timers report theirs; the main thread waits for the first
// reason and then drains. Everything a recycle decision needs is here, so the rules of
// maximum-requests, maximum-memory and inactivity-timeout read in one place.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include "gantry/daemon_api.hpp"

namespace gantry::daemon {

class Lifecycle {
 public:
  explicit Lifecycle(const DaemonRunSpec& spec);

  void request_started();
  // After each request: counts it, logs a large peak-RSS growth with the URL that caused
  // it, and asks for a recycle when maximum-requests or maximum-memory says so.
  void request_finished(std::string_view method, std::string_view uri);
  // A signal or another component asks the process to end; the first reason wins.
  void request_exit(DaemonExit reason);
  // Blocks until the process should exit (also detects inactivity-timeout).
  DaemonExit wait_for_exit();
  std::uint64_t requests_served() const;

 private:
  using Clock = std::chrono::steady_clock;
  const DaemonRunSpec& spec_;
  std::uint64_t request_limit_;  // maximum-requests with this process's jitter; 0 = none
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<DaemonExit> exit_;
  std::uint64_t served_ = 0;
  unsigned in_flight_ = 0;
  Clock::time_point last_activity_ = Clock::now();
  std::uint64_t peak_before_ = 0;
};

}  // namespace gantry::daemon
