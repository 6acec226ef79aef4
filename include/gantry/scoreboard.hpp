#pragma once
// The status scoreboard: what each daemon process tells the gantry-status page about itself,
// in shared memory, so reading the page never talks to a busy daemon (docs/status-page.md).
//
// One ProcessBoard per process cell (group x process slot x cell, see
// module/daemon_handover.hpp): a memfd that Apache's parent creates, sized for the group's
// threads, and sealed against resizing. The parent hands the writable descriptor only to
// the process of that cell; the parent and the Apache children map it read-only (through a
// read-only descriptor, so the mapping can never be made writable). A process can write
// its own board and no other: the worst a hostile application can do is lie about its own
// process, and the reader (scoreboard_reader.hpp) validates every field it reads.
//
// Writers never lock anything shared and never make a syscall on the request path: each
// request thread owns one ThreadScore (single writer, a sequence counter so a reader never
// mixes two requests); the process-wide fields are single atomics or, for the records of
// several fields, guarded by a sequence counter and the writer's own process-local mutex.
//
// A board outlives its processes: the next process of the cell folds the counters of the
// previous one into `carried_*` before serving, so the group's totals count since the
// server generation started (Apache's start or its last restart).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gantry::scoreboard {

inline constexpr std::uint32_t kMagic = 0x47534231;  // "GSB1"
inline constexpr std::size_t kTextWords = 32;        // 256 bytes of "METHOD URI"
inline constexpr std::size_t kTextBytes = kTextWords * 8;
inline constexpr std::size_t kSamples = 72;          // RSS history: 6 minutes ...
inline constexpr unsigned kSampleSeconds = 5;        // ... at one sample each 5 s
inline constexpr std::size_t kGrowthRecords = 8;     // the largest memory growths per cell

// What a process is doing, as its own board says.
enum class State : std::uint32_t {
  empty = 0,     // no process has used this cell yet
  spare = 1,     // a standby, forked, waiting without Python for its turn
  starting = 2,  // starting Python and the preloads
  serving = 3,   // accepting requests
  draining = 4,  // stopped accepting (recycle, restart): finishing its requests
  exited = 5,    // left through Gantry's exit path
};
inline constexpr std::uint32_t kStates = 6;
const char* state_name(State state);  // "serving", ...

// Why a request failed in the daemon (each request counts at most once).
enum class Failure : std::uint32_t {
  application_error = 0,  // the application raised before its response started: 500
  aborted,                // failed after the headers went out, or the response was cut
  connection_lost,        // the Apache child (the client) went away mid-request
  refused,                // not a valid request from Apache (secret, protocol)
  queue_timeout,          // answered 504: waited longer than queue-timeout
  request_timeout,        // answered 504: interrupted after request-timeout
  internal_error,         // Gantry's own failure in the daemon
};
inline constexpr std::uint32_t kFailures = 7;
const char* failure_name(Failure failure);  // "application_error", ...

// Why processes of a cell ended: the DaemonExit statuses (gantry/daemon_api.hpp) plus
// `killed` - a process that died without leaving through Gantry's exit path (a signal,
// the OOM killer), counted by its successor.
inline constexpr std::uint32_t kExitCauses = 14;
inline constexpr std::uint32_t kKilledCause = 13;
// The index of a daemon exit status, or kExitCauses if it is none of ours.
std::uint32_t exit_cause_index(int status);
const char* exit_cause_name(std::uint32_t index);  // "maximum_requests", ... "killed"

// "METHOD URI" or a URL, truncated to kTextBytes, copied by 8-byte words (no torn bytes
// in C++'s terms; a reader's copy is checked by the record's sequence counter).
struct Text {
  std::atomic<std::uint32_t> length{0};
  std::atomic<std::uint64_t> words[kTextWords] = {};
  void store(std::string_view first, std::string_view second = {}) noexcept;  // "first second"
};

struct alignas(64) ThreadScore {  // one per request thread; written by that thread only
  std::atomic<std::uint32_t> seq{0};  // odd while the thread writes
  std::atomic<std::uint32_t> busy{0};
  std::atomic<std::int64_t> started_us{0};  // of the request in flight (wall clock, us)
  std::atomic<std::uint64_t> requests{0};   // finished by this thread in this process
  std::atomic<std::uint64_t> failed[kFailures] = {};
  std::atomic<std::uint64_t> queue_wait_us{0};  // summed over its requests
  std::atomic<std::uint64_t> queue_wait_max_us{0};
  Text request;  // "GET /uri?query" of the request in flight
};

struct RssSample {
  std::atomic<std::int64_t> at_us{0};
  std::atomic<std::uint64_t> rss{0};
};

// A request that raised the peak RSS by more than memory-growth (GANTRY0210).
struct GrowthRecord {
  std::atomic<std::int64_t> at_us{0};
  std::atomic<std::int32_t> pid{0};
  std::atomic<std::uint64_t> before{0};  // peak RSS before the request, bytes
  std::atomic<std::uint64_t> after{0};   // peak RSS after it
  Text request;
};

struct alignas(64) ProcessBoard {
  // Written once by the parent. Informational: a reader trusts only its own size.
  std::atomic<std::uint32_t> magic{0};
  std::atomic<std::uint32_t> threads{0};
  // The process now in the cell.
  std::atomic<std::int32_t> pid{0};
  std::atomic<std::uint32_t> state{0};
  std::atomic<std::int64_t> started_us{0};
  std::atomic<std::uint32_t> draining_cause{kExitCauses};  // why it drains (exit cause index)
  std::atomic<std::uint64_t> request_limit{0};  // maximum-requests as drawn (0: none)
  std::atomic<std::uint64_t> rss{0};            // after its last request or sample, bytes
  std::atomic<std::uint64_t> peak_rss{0};
  std::atomic<std::uint64_t> pss{0};            // sampled every kSampleSeconds
  std::atomic<std::uint64_t> uss{0};
  // The cell's earlier processes, folded in when a process starts (totals_seq guards).
  std::atomic<std::uint32_t> totals_seq{0};
  std::atomic<std::uint64_t> carried_requests{0};
  std::atomic<std::uint64_t> carried_failed[kFailures] = {};
  std::atomic<std::uint64_t> carried_queue_wait_us{0};
  std::atomic<std::uint64_t> exits[kExitCauses] = {};
  // RSS history, a ring (samples_seq guards).
  std::atomic<std::uint32_t> samples_seq{0};
  std::atomic<std::uint32_t> next_sample{0};
  RssSample samples[kSamples];
  // The largest growths seen in this cell (growth_seq guards).
  std::atomic<std::uint32_t> growth_seq{0};
  GrowthRecord growth[kGrowthRecords];
  // ThreadScore[threads] follow, each 64-byte aligned.
};

static_assert(std::atomic<std::int64_t>::is_always_lock_free &&
                  std::atomic<std::uint64_t>::is_always_lock_free,
              "the scoreboard relies on lock-free 64-bit atomics across processes");
static_assert(sizeof(ProcessBoard) % alignof(ThreadScore) == 0);

// Bytes of a board for `threads` request threads.
constexpr std::size_t board_bytes(std::size_t threads) {
  return sizeof(ProcessBoard) + threads * sizeof(ThreadScore);
}
// How many ThreadScores a mapping of `bytes` holds.
constexpr std::size_t board_threads(std::size_t bytes) {
  return bytes < sizeof(ProcessBoard) ? 0 : (bytes - sizeof(ProcessBoard)) / sizeof(ThreadScore);
}
inline ThreadScore* thread_scores(ProcessBoard* board) {
  return reinterpret_cast<ThreadScore*>(board + 1);
}
inline const ThreadScore* thread_scores(const ProcessBoard* board) {
  return reinterpret_cast<const ThreadScore*>(board + 1);
}

}  // namespace gantry::scoreboard
