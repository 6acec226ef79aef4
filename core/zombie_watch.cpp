#include "gantry/zombie_watch.hpp"

namespace gantry {

void ZombieWatch::reset(std::size_t capacity) {
  // Unpublish first: a handler running now sees no table rather than a freed one. (The
  // caller installs the handler after the first reset and uninstalls it before freeing.)
  entries_.store(nullptr, std::memory_order_release);
  used_.store(0, std::memory_order_release);
  capacity_.store(0, std::memory_order_release);
  storage_.reset(capacity ? new Entry[capacity] : nullptr);
  capacity_.store(capacity, std::memory_order_release);
  entries_.store(storage_.get(), std::memory_order_release);
}

bool ZombieWatch::track(pid_t pid, Peek peek) noexcept {
  Entry* entries = entries_.load(std::memory_order_acquire);
  const std::size_t capacity = capacity_.load(std::memory_order_acquire);
  if (pid <= 0) return true;
  if (!entries) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::size_t n = used_.load(std::memory_order_acquire);
  // A stale entry of a reused pid (its process was reaped without take()) must not answer.
  for (std::size_t i = 0; i < n; ++i)
    if (entries[i].pid.load(std::memory_order_relaxed) == pid) entries[i].pid.store(0, std::memory_order_release);
  for (std::size_t i = 0; i <= n && i < capacity; ++i) {
    Entry& e = entries[i];
    if (e.pid.load(std::memory_order_relaxed) != 0) continue;
    e.status.store(-1, std::memory_order_relaxed);
    e.pid.store(pid, std::memory_order_release);
    if (i == n) used_.store(n + 1, std::memory_order_release);
    peek_all(peek);  // it may have died already, before this entry existed
    return true;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void ZombieWatch::peek_all(Peek peek) noexcept {
  Entry* entries = entries_.load(std::memory_order_acquire);
  if (!entries) return;
  const std::size_t n = used_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    Entry& e = entries[i];
    const pid_t pid = e.pid.load(std::memory_order_acquire);
    if (pid <= 0 || e.status.load(std::memory_order_relaxed) >= 0) continue;
    const int raw = peek(pid);
    if (raw < 0) continue;
    // Only if the entry still names that pid (take() may have freed it meanwhile).
    if (e.pid.load(std::memory_order_acquire) == pid) e.status.store(raw, std::memory_order_release);
  }
}

int ZombieWatch::take(pid_t pid) noexcept {
  Entry* entries = entries_.load(std::memory_order_acquire);
  if (!entries || pid <= 0) return -1;
  const std::size_t n = used_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    Entry& e = entries[i];
    if (e.pid.load(std::memory_order_acquire) != pid) continue;
    const int status = e.status.load(std::memory_order_acquire);
    e.pid.store(0, std::memory_order_release);
    return status;
  }
  return -1;
}

std::size_t ZombieWatch::tracked() const noexcept {
  Entry* entries = entries_.load(std::memory_order_acquire);
  if (!entries) return 0;
  std::size_t count = 0;
  const std::size_t n = used_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) count += entries[i].pid.load(std::memory_order_relaxed) > 0;
  return count;
}

}  // namespace gantry
