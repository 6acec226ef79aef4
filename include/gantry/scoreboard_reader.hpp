#pragma once
// Reading a ProcessBoard (gantry/scoreboard.hpp) that a daemon process - possibly running a
// hostile application - writes while we read. Everything is copied out once and checked:
// the number of thread records comes from the reader's own idea of the size (never from
// the board), strings are cut to their field and reduced to printable ASCII, times and
// sizes outside plausible ranges are dropped, sequence counters that never settle cost a
// bounded number of retries. A board can make its own process look odd; it cannot make the
// reader crash, loop, or write outside its copy.
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gantry/scoreboard.hpp"

namespace gantry::scoreboard {

struct InFlight {
  std::string request;     // "GET /uri"
  std::int64_t started_us = 0;
};

struct Sample {
  std::int64_t at_us = 0;
  std::uint64_t rss = 0;
};

struct Growth {
  std::string request;  // "GET /uri"
  pid_t pid = 0;
  std::uint64_t before = 0, after = 0;  // peak RSS, bytes
  std::int64_t at_us = 0;
};

struct BoardReading {
  // The process in the cell (pid 0: none has been there).
  pid_t pid = 0;
  State state = State::empty;
  std::int64_t started_us = 0;
  std::uint32_t draining_cause = kExitCauses;  // kExitCauses: none / unknown
  std::uint64_t request_limit = 0;
  std::uint64_t rss = 0, peak_rss = 0, pss = 0, uss = 0;
  std::uint64_t requests = 0;  // finished by this process
  std::uint64_t queue_wait_max_us = 0;
  std::vector<InFlight> in_flight;  // oldest first
  std::vector<Sample> samples;      // oldest first
  // The cell since the generation started (this process included).
  std::uint64_t total_requests = 0;
  std::array<std::uint64_t, kFailures> failed{};
  std::uint64_t queue_wait_us = 0;  // summed
  std::array<std::uint64_t, kExitCauses> exits{};
  std::vector<Growth> growth;
  bool consistent = true;  // every record settled within the retries
};

// Reads the board mapped at `base` (`bytes` as the reader mapped it). `now_us`: the wall
// clock, for the plausibility of times.
BoardReading read_board(const void* base, std::size_t bytes, std::int64_t now_us);

// Printable ASCII only (other bytes become '?'), at most `limit` bytes.
std::string printable(const char* data, std::size_t size, std::size_t limit);

}  // namespace gantry::scoreboard
