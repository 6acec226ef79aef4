#include "gantry/scoreboard_writer.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <new>

namespace gantry::scoreboard {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;

// Single-writer sequence lock: odd while `write` runs. Starts from an even number whatever
// an earlier (possibly hostile) process of the cell left there.
template <class Write>
void seq_write(std::atomic<std::uint32_t>& seq, Write write) noexcept {
  const std::uint32_t s = seq.load(relaxed) & ~1u;
  seq.store(s + 1, relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  write();
  seq.store(s + 2, std::memory_order_release);
}

void add(std::atomic<std::uint64_t>& to, std::uint64_t n) noexcept { to.store(to.load(relaxed) + n, relaxed); }

// The calling thread's score, and the writer it belongs to (one per process in a daemon;
// the unit tests make several on one thread).
thread_local ThreadScore* t_score = nullptr;
thread_local const BoardWriter* t_owner = nullptr;

}  // namespace

BoardWriter* BoardWriter::attach(int fd) noexcept {
  struct stat st{};
  if (fd < 0 || fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < board_bytes(1)) return nullptr;
  const auto bytes = static_cast<std::size_t>(st.st_size);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* board = static_cast<ProcessBoard*>(memory);
  if (board->magic.load(relaxed) != kMagic) {
    munmap(memory, bytes);
    return nullptr;
  }
  auto* writer = new (std::nothrow) BoardWriter(board, bytes, board_threads(bytes));
  if (!writer) munmap(memory, bytes);
  return writer;
}

void BoardWriter::detach(BoardWriter* writer) noexcept {
  if (!writer) return;
  munmap(writer->board_, writer->bytes_);
  delete writer;
}

BoardWriter::~BoardWriter() {
  if (t_owner == this) {
    t_owner = nullptr;
    t_score = nullptr;
  }
}

void BoardWriter::begin_process(pid_t pid, std::int64_t now_us, bool standby) noexcept {
  ProcessBoard& b = *board_;
  const auto previous = static_cast<State>(b.state.load(relaxed));
  const bool died = b.pid.load(relaxed) != 0 &&
                    (previous == State::starting || previous == State::serving || previous == State::draining);
  ThreadScore* scores = thread_scores(board_);
  seq_write(b.totals_seq, [&] {
    if (died) add(b.exits[kKilledCause], 1);
    for (std::size_t i = 0; i < threads_; ++i) {
      ThreadScore& t = scores[i];
      add(b.carried_requests, t.requests.load(relaxed));
      for (std::uint32_t f = 0; f < kFailures; ++f) add(b.carried_failed[f], t.failed[f].load(relaxed));
      add(b.carried_queue_wait_us, t.queue_wait_us.load(relaxed));
      t.requests.store(0, relaxed);
      for (auto& f : t.failed) f.store(0, relaxed);
      t.queue_wait_us.store(0, relaxed);
      t.queue_wait_max_us.store(0, relaxed);
      t.busy.store(0, relaxed);
    }
  });
  b.request_limit.store(0, relaxed);
  b.rss.store(0, relaxed);
  b.peak_rss.store(0, relaxed);
  b.pss.store(0, relaxed);
  b.uss.store(0, relaxed);
  b.draining_cause.store(kExitCauses, relaxed);
  b.started_us.store(now_us, relaxed);
  b.pid.store(pid, relaxed);
  seq_write(b.samples_seq, [&] {  // a new process, a new history
    for (auto& s : b.samples) s.at_us.store(0, relaxed);
    b.next_sample.store(0, relaxed);
  });
  b.state.store(static_cast<std::uint32_t>(standby ? State::spare : State::starting), std::memory_order_release);
}

void BoardWriter::set_state(State state) noexcept {
  board_->state.store(static_cast<std::uint32_t>(state), std::memory_order_release);
}

void BoardWriter::draining(int exit_status) noexcept {
  board_->draining_cause.store(exit_cause_index(exit_status), relaxed);
  set_state(State::draining);
}

void BoardWriter::exited(int exit_status) noexcept {
  std::lock_guard lock(mutex_);
  const std::uint32_t cause = exit_cause_index(exit_status);
  if (cause < kExitCauses) seq_write(board_->totals_seq, [&] { add(board_->exits[cause], 1); });
  set_state(State::exited);
}

void BoardWriter::set_request_limit(std::uint64_t limit) noexcept { board_->request_limit.store(limit, relaxed); }

ThreadScore* BoardWriter::this_thread() noexcept {
  if (t_owner != this) {
    t_owner = this;
    const std::size_t i = claimed_.fetch_add(1, relaxed);
    t_score = i < threads_ ? &thread_scores(board_)[i] : nullptr;
  }
  return t_score;
}

void BoardWriter::request_started(std::string_view method, std::string_view uri, std::int64_t started_us,
                                  std::int64_t queue_wait_us) noexcept {
  ThreadScore* t = this_thread();
  if (!t) return;
  seq_write(t->seq, [&] {
    t->busy.store(1, relaxed);
    t->started_us.store(started_us, relaxed);
    t->request.store(method, uri);
    if (queue_wait_us >= 0) {
      const auto wait = static_cast<std::uint64_t>(queue_wait_us);
      add(t->queue_wait_us, wait);
      if (wait > t->queue_wait_max_us.load(relaxed)) t->queue_wait_max_us.store(wait, relaxed);
    }
  });
}

void BoardWriter::request_finished(const Failure* failure) noexcept {
  ThreadScore* t = this_thread();
  if (!t) return;
  seq_write(t->seq, [&] {
    t->busy.store(0, relaxed);
    add(t->requests, 1);
    if (failure && static_cast<std::uint32_t>(*failure) < kFailures)
      add(t->failed[static_cast<std::uint32_t>(*failure)], 1);
  });
}

void BoardWriter::note_rss(std::uint64_t rss, std::uint64_t peak) noexcept {
  if (rss) board_->rss.store(rss, relaxed);
  if (peak) board_->peak_rss.store(peak, relaxed);
}

void BoardWriter::note_sample(std::int64_t at_us, std::uint64_t rss, std::uint64_t pss, std::uint64_t uss) noexcept {
  std::lock_guard lock(mutex_);
  ProcessBoard& b = *board_;
  if (rss) b.rss.store(rss, relaxed);
  if (pss) b.pss.store(pss, relaxed);
  if (uss) b.uss.store(uss, relaxed);
  if (!rss) return;
  seq_write(b.samples_seq, [&] {
    const std::uint32_t next = b.next_sample.load(relaxed) % kSamples;
    b.samples[next].rss.store(rss, relaxed);
    b.samples[next].at_us.store(at_us, relaxed);
    b.next_sample.store((next + 1) % kSamples, relaxed);
  });
}

void BoardWriter::note_growth(std::string_view method, std::string_view uri, std::int64_t at_us,
                              std::uint64_t before, std::uint64_t after) noexcept {
  if (after <= before) return;
  std::lock_guard lock(mutex_);
  ProcessBoard& b = *board_;
  // Replace the smallest record (an unused one is the smallest), if this growth is larger.
  GrowthRecord* smallest = &b.growth[0];
  auto size = [](const GrowthRecord& r) {
    return r.at_us.load(relaxed) ? r.after.load(relaxed) - std::min(r.before.load(relaxed), r.after.load(relaxed)) : 0;
  };
  for (GrowthRecord& r : b.growth)
    if (size(r) < size(*smallest)) smallest = &r;
  if (smallest->at_us.load(relaxed) && size(*smallest) >= after - before) return;
  seq_write(b.growth_seq, [&] {
    smallest->before.store(before, relaxed);
    smallest->after.store(after, relaxed);
    smallest->pid.store(b.pid.load(relaxed), relaxed);
    smallest->request.store(method, uri);
    smallest->at_us.store(at_us, relaxed);
  });
}

}  // namespace gantry::scoreboard
