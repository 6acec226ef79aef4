// Names of the scoreboard's enumerations, and Text's word-wise copy (gantry/scoreboard.hpp).
#include "gantry/scoreboard.hpp"

#include <cstring>

namespace gantry::scoreboard {
namespace {

// The exit causes in index order: DaemonExit's statuses (0, then 100...) and `killed`.
struct ExitCause {
  int status;
  const char* name;  // mod_wsgi's shutdown_reason words where it has one
};
constexpr ExitCause kExitCauseTable[kExitCauses] = {
    {0, "shutdown"},           {100, "startup_failed"},   {101, "maximum_requests"},
    {102, "inactivity_timeout"}, {103, "maximum_memory"}, {104, "restart_signal"},
    {105, "request_timeout"},  {106, "deadlock_timeout"}, {107, "script_reload"},
    {108, "restart_interval"}, {109, "cpu_time_limit"},   {110, "graceful_restart"},
    {111, "startup_timeout"},  {-1, "killed"},
};

}  // namespace

const char* state_name(State state) {
  switch (state) {
    case State::empty: return "empty";
    case State::spare: return "spare";
    case State::starting: return "starting";
    case State::serving: return "serving";
    case State::draining: return "draining";
    case State::exited: return "exited";
  }
  return "unknown";
}

const char* failure_name(Failure failure) {
  switch (failure) {
    case Failure::application_error: return "application_error";
    case Failure::aborted: return "aborted";
    case Failure::connection_lost: return "connection_lost";
    case Failure::refused: return "refused";
    case Failure::queue_timeout: return "queue_timeout";
    case Failure::request_timeout: return "request_timeout";
    case Failure::internal_error: return "internal_error";
  }
  return "unknown";
}

std::uint32_t exit_cause_index(int status) {
  for (std::uint32_t i = 0; i < kExitCauses; ++i)
    if (kExitCauseTable[i].status == status && status >= 0) return i;
  return kExitCauses;
}

const char* exit_cause_name(std::uint32_t index) {
  return index < kExitCauses ? kExitCauseTable[index].name : "other";
}

void Text::store(std::string_view first, std::string_view second) noexcept {
  char bytes[kTextBytes] = {};
  std::size_t n = std::min(first.size(), kTextBytes);
  std::memcpy(bytes, first.data(), n);
  if (!second.empty() && n < kTextBytes) {
    if (n) bytes[n++] = ' ';
    const std::size_t more = std::min(second.size(), kTextBytes - n);
    std::memcpy(bytes + n, second.data(), more);
    n += more;
  }
  // Only the words that hold text: a short URL costs a few stores, not 32.
  for (std::size_t w = 0; w < (n + 7) / 8; ++w) {
    std::uint64_t word;
    std::memcpy(&word, bytes + w * 8, 8);
    words[w].store(word, std::memory_order_relaxed);
  }
  length.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
}

}  // namespace gantry::scoreboard
