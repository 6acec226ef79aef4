#include "gantry/scoreboard_reader.hpp"

#include <algorithm>
#include <cstring>

namespace gantry::scoreboard {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr int kRetries = 64;
// Plausibility bounds: no process is older than the epoch of 2000 or starts an hour ahead of
// the reader's clock, none holds more than 64 TiB, and no wait lasts beyond a year.
constexpr std::int64_t kEpoch2000Us = 946684800LL * 1000000;
constexpr std::int64_t kClockSlackUs = 3600LL * 1000000;
constexpr std::uint64_t kMaxBytes = 1ULL << 46;
constexpr std::uint64_t kMaxWaitUs = 366ULL * 86400 * 1000000;
constexpr pid_t kMaxPid = 1 << 22;  // PID_MAX_LIMIT

// Reads a record through its sequence counter: `copy` runs until it saw no write, at most
// kRetries times (a writer that never settles - or lies - gets its last copy, flagged).
template <class Copy>
bool seq_read(const std::atomic<std::uint32_t>& seq, Copy copy) {
  for (int attempt = 0; attempt < kRetries; ++attempt) {
    const std::uint32_t before = seq.load(std::memory_order_acquire);
    copy();
    std::atomic_thread_fence(std::memory_order_acquire);
    if (!(before & 1) && seq.load(relaxed) == before) return true;
  }
  return false;
}

std::string read_text(const Text& text) {
  char bytes[kTextBytes];
  const std::size_t length = std::min<std::size_t>(text.length.load(relaxed), kTextBytes);
  for (std::size_t w = 0; w < (length + 7) / 8; ++w) {
    const std::uint64_t word = text.words[w].load(relaxed);
    std::memcpy(bytes + w * 8, &word, 8);
  }
  return printable(bytes, length, kTextBytes);
}

std::uint64_t bytes_or_zero(std::uint64_t v) { return v <= kMaxBytes ? v : 0; }

bool plausible_time(std::int64_t us, std::int64_t now_us) {
  return us >= kEpoch2000Us && us <= now_us + kClockSlackUs;
}

// Sums that a hostile board cannot overflow into small numbers.
std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

}  // namespace

std::string printable(const char* data, std::size_t size, std::size_t limit) {
  std::string out(data, std::min(size, limit));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

BoardReading read_board(const void* base, std::size_t bytes, std::int64_t now_us) {
  BoardReading r;
  if (!base || bytes < sizeof(ProcessBoard)) return r;
  const auto& b = *static_cast<const ProcessBoard*>(base);
  const std::size_t threads = board_threads(bytes);

  const std::int32_t pid = b.pid.load(relaxed);
  r.pid = pid > 0 && pid <= kMaxPid ? pid : 0;
  const std::uint32_t state = b.state.load(std::memory_order_acquire);
  r.state = state < kStates ? static_cast<State>(state) : State::empty;
  const std::int64_t started = b.started_us.load(relaxed);
  r.started_us = plausible_time(started, now_us) ? started : 0;
  r.draining_cause = std::min(b.draining_cause.load(relaxed), kExitCauses);
  r.request_limit = b.request_limit.load(relaxed);
  r.rss = bytes_or_zero(b.rss.load(relaxed));
  r.peak_rss = std::max(bytes_or_zero(b.peak_rss.load(relaxed)), r.rss);
  r.pss = bytes_or_zero(b.pss.load(relaxed));
  r.uss = bytes_or_zero(b.uss.load(relaxed));

  // The cell's totals: carried, plus each thread's (read under the thread's own counter).
  std::uint64_t carried_requests = 0, carried_wait = 0;
  std::array<std::uint64_t, kFailures> carried_failed{};
  r.consistent &= seq_read(b.totals_seq, [&] {
    carried_requests = b.carried_requests.load(relaxed);
    carried_wait = b.carried_queue_wait_us.load(relaxed);
    for (std::uint32_t f = 0; f < kFailures; ++f) carried_failed[f] = b.carried_failed[f].load(relaxed);
    for (std::uint32_t e = 0; e < kExitCauses; ++e) r.exits[e] = b.exits[e].load(relaxed);
  });
  r.total_requests = carried_requests;
  r.failed = carried_failed;
  r.queue_wait_us = std::min<std::uint64_t>(carried_wait, kMaxWaitUs * 1000);

  const ThreadScore* scores = thread_scores(&b);
  for (std::size_t i = 0; i < threads; ++i) {
    const ThreadScore& t = scores[i];
    std::uint32_t busy = 0;
    std::int64_t started_us = 0;
    std::uint64_t requests = 0, wait = 0, wait_max = 0;
    std::array<std::uint64_t, kFailures> failed{};
    std::string request;
    r.consistent &= seq_read(t.seq, [&] {
      busy = t.busy.load(relaxed);
      started_us = t.started_us.load(relaxed);
      requests = t.requests.load(relaxed);
      wait = t.queue_wait_us.load(relaxed);
      wait_max = t.queue_wait_max_us.load(relaxed);
      for (std::uint32_t f = 0; f < kFailures; ++f) failed[f] = t.failed[f].load(relaxed);
      if (busy) request = read_text(t.request);
    });
    r.requests = sat_add(r.requests, requests);
    for (std::uint32_t f = 0; f < kFailures; ++f) r.failed[f] = sat_add(r.failed[f], failed[f]);
    r.queue_wait_us = sat_add(r.queue_wait_us, std::min(wait, kMaxWaitUs * 1000));
    if (wait_max <= kMaxWaitUs) r.queue_wait_max_us = std::max(r.queue_wait_max_us, wait_max);
    if (busy == 1 && plausible_time(started_us, now_us))
      r.in_flight.push_back({std::move(request), std::min(started_us, now_us)});
  }
  r.total_requests = sat_add(r.total_requests, r.requests);
  std::sort(r.in_flight.begin(), r.in_flight.end(),
            [](const InFlight& a, const InFlight& c) { return a.started_us < c.started_us; });

  std::array<Sample, kSamples> samples{};
  std::uint32_t next = 0;
  r.consistent &= seq_read(b.samples_seq, [&] {
    next = b.next_sample.load(relaxed) % kSamples;
    for (std::size_t i = 0; i < kSamples; ++i)
      samples[i] = {b.samples[i].at_us.load(relaxed), b.samples[i].rss.load(relaxed)};
  });
  for (std::size_t k = 0; k < kSamples; ++k) {
    const Sample& s = samples[(next + k) % kSamples];
    if (!plausible_time(s.at_us, now_us) || s.rss > kMaxBytes) continue;
    if (!r.samples.empty() && s.at_us <= r.samples.back().at_us) continue;  // keep it monotonic
    r.samples.push_back(s);
  }

  r.consistent &= seq_read(b.growth_seq, [&] {
    r.growth.clear();
    for (const GrowthRecord& g : b.growth) {
      Growth copy;
      copy.at_us = g.at_us.load(relaxed);
      const std::int32_t gpid = g.pid.load(relaxed);
      copy.pid = gpid > 0 && gpid <= kMaxPid ? gpid : 0;
      copy.before = g.before.load(relaxed);
      copy.after = g.after.load(relaxed);
      copy.request = read_text(g.request);
      r.growth.push_back(std::move(copy));
    }
  });
  std::erase_if(r.growth, [&](const Growth& g) {
    return !plausible_time(g.at_us, now_us) || g.after <= g.before || g.after > kMaxBytes;
  });
  return r;
}

}  // namespace gantry::scoreboard
