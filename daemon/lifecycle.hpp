#pragma once
// When a daemon process should end, and why. The request threads report each request's
// start and end; signals and timers report theirs; the main thread waits for the first
// reason and then drains. Everything a recycle decision needs is here, so the rules of
// maximum-requests, maximum-memory and inactivity-timeout read in one place.
#include <chrono>
#include <condition_variable>
#include <map>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include "gantry/daemon_api.hpp"

namespace gantry::daemon {

class Lifecycle {
 public:
  explicit Lifecycle(const DaemonRunSpec& spec);

  // Marks a request as running; the token identifies it to request_finished().
  using Token = std::uint64_t;
  Token request_started();
  // After each request: counts it, logs a large peak-RSS growth with the URL that caused
  // it, and asks for a recycle when maximum-requests or maximum-memory says so.
  void request_finished(Token token, std::string_view method, std::string_view uri);
  // A signal or another component asks the process to end; the first reason wins.
  void request_exit(DaemonExit reason);
  // Blocks until the process should exit (also detects inactivity-timeout and
  // request-timeout: the running time of the requests in flight, summed and divided by the
  // number of request threads, past the limit - so one stuck request in a 15-thread process
  // restarts it only when it has held its thread 15 times the limit, as mod_wsgi does).
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
  std::map<Token, Clock::time_point> running_;  // start time of each request in flight
  Token next_token_ = 0;
  Clock::time_point last_activity_ = Clock::now();
  std::uint64_t peak_before_ = 0;

  bool over_request_timeout(Clock::time_point now) const;  // mutex_ held
};

}  // namespace gantry::daemon
