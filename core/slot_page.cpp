#include "gantry/slot_page.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <new>
#include <utility>

namespace gantry {
namespace {

// Shared (not FUTEX_PRIVATE) futexes: the waiters are other processes.
void futex_wait(const std::atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  timespec timeout{1, 0};  // re-check now and then; a lost wake-up costs at most this
  syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(word), FUTEX_WAIT, expected, &timeout,
          nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

// ---- SlotHandover -------------------------------------------------------------------------

void SlotHandover::wake() noexcept { futex_wake_all(&word_); }

void SlotHandover::hand_over(int cell) noexcept {
  std::uint32_t word = load();
  std::uint32_t next;
  do {
    const bool serving = state_in(word, cell) == CellState::serving;
    next = with_state(word, cell, CellState::draining) | (serving ? kTokenBit : 0);
  } while (!word_.compare_exchange_weak(word, next, std::memory_order_acq_rel));
  if (next & kTokenBit) wake();
}

bool SlotHandover::try_take_turn(int cell) noexcept {
  std::uint32_t word = load();
  for (;;) {
    if (!(word & kTokenBit) || state_in(word, cell) != CellState::waiting) return false;
    const std::uint32_t next = with_state(word, cell, CellState::serving) & ~kTokenBit;
    if (word_.compare_exchange_weak(word, next, std::memory_order_acq_rel)) return true;
  }
}

void SlotHandover::wait_for_turn(int cell) noexcept {
  for (;;) {
    if (try_take_turn(cell)) return;
    const std::uint32_t seen = load();
    if (!(seen & kTokenBit)) futex_wait(&word_, seen);
    else if (state_in(seen, cell) != CellState::waiting) futex_wait(&word_, seen);  // not ours to take
  }
}

void SlotHandover::set_state(int cell, CellState s) noexcept {
  std::uint32_t word = load();
  while (!word_.compare_exchange_weak(word, with_state(word, cell, s), std::memory_order_acq_rel)) {
  }
}

SlotHandover::Need SlotHandover::settle() noexcept {
  std::uint32_t word = load();
  for (;;) {
    const CellState a = state_in(word, 0), b = state_in(word, 1);
    if (a == CellState::serving || b == CellState::serving || (word & kTokenBit)) return Need::nothing;
    if (a != CellState::waiting && b != CellState::waiting) return Need::process;
    if (word_.compare_exchange_weak(word, word | kTokenBit, std::memory_order_acq_rel)) {
      wake();
      return Need::standby_took_token;
    }
  }
}

bool SlotHandover::reconcile(bool cell0_alive, bool cell1_alive) noexcept {
  std::uint32_t word = load();
  for (;;) {
    std::uint32_t next = word & kValidBits;
    if (!cell0_alive) next = with_state(next, 0, CellState::empty);
    if (!cell1_alive) next = with_state(next, 1, CellState::empty);
    if (next == word) return false;
    if (word_.compare_exchange_weak(word, next, std::memory_order_acq_rel)) return true;
  }
}

// ---- SlotPage -----------------------------------------------------------------------------

void SlotPage::note_own_exit(int cell, pid_t pid, int status) noexcept {
  own_exit[cell & 1].store((static_cast<std::int64_t>(pid) << 16) | 0x100 | (status & 0xff),
                           std::memory_order_release);
}

int SlotPage::own_exit_of(int cell, pid_t pid) const noexcept {
  const std::int64_t v = own_exit[cell & 1].load(std::memory_order_acquire);
  if (pid <= 0 || (v >> 16) != pid || !(v & 0x100) || (v & 0xfe00)) return -1;
  return static_cast<int>(v & 0xff);
}

std::uint64_t SlotPage::checked_rss(int cell, std::uint64_t limit) const noexcept {
  const std::uint64_t rss = this->rss[cell & 1].load(std::memory_order_relaxed);
  return rss <= limit ? rss : 0;
}

void SlotPage::clear_cell(int cell) noexcept {
  rss[cell & 1].store(0, std::memory_order_relaxed);
  own_exit[cell & 1].store(0, std::memory_order_release);
}

// ---- SlotPages ----------------------------------------------------------------------------

static_assert(sizeof(SlotPage) <= 4096, "a slot's page must fit the smallest page size");

std::size_t SlotPages::stride() noexcept {
  static const std::size_t size = [] {
    const long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? static_cast<std::size_t>(page) : std::size_t{4096};
  }();
  return size;
}

SlotPages& SlotPages::operator=(SlotPages&& other) noexcept {
  if (this != &other) {
    release();
    base_ = other.base_, count_ = other.count_, fd_ = std::move(other.fd_);
    other.base_ = nullptr, other.count_ = 0;
  }
  return *this;
}

bool SlotPages::create(std::size_t slots) noexcept {
  release();
  const std::size_t bytes = stride() * (slots ? slots : 1);
  // A memfd, not an anonymous mapping: the daemons are started by the spawner, which did
  // not inherit this generation's memory; it passes them the descriptor.
  ScopedFd fd(memfd_create("gantry-slots", MFD_CLOEXEC));
  if (!fd || ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return false;
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (memory == MAP_FAILED) return false;
  base_ = static_cast<char*>(memory);
  count_ = slots;
  fd_ = std::move(fd);
  for (std::size_t i = 0; i < slots; ++i) new (page(i)) SlotPage();
  return true;
}

void SlotPages::release() noexcept {
  Raw raw = detach();
  release(raw);
}

SlotPages::Raw SlotPages::detach() noexcept {
  const Raw raw{base_, count_, fd_.release()};
  base_ = nullptr, count_ = 0;
  return raw;
}

void SlotPages::release(Raw& raw) noexcept {
  if (raw.base) munmap(raw.base, stride() * (raw.count ? raw.count : 1));
  close_held(raw.fd);
  raw = Raw{nullptr, 0, -1};
}

SlotPage* SlotPages::page_in(const Raw& raw, std::size_t slot) noexcept {
  if (!raw.base || slot >= raw.count) return nullptr;
  return reinterpret_cast<SlotPage*>(raw.base + slot * stride());
}

SlotPage* SlotPages::page(std::size_t slot) const noexcept {
  return page_in(Raw{base_, count_, fd_.get()}, slot);
}

SlotPage* SlotPages::attach_one(int fd, std::size_t slot) noexcept {
  struct stat st{};
  const std::size_t size = stride();
  if (fstat(fd, &st) != 0 || st.st_size < 0 || static_cast<std::size_t>(st.st_size) < (slot + 1) * size)
    return nullptr;
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                      static_cast<off_t>(slot * size));
  return memory == MAP_FAILED ? nullptr : static_cast<SlotPage*>(memory);
}

}  // namespace gantry
