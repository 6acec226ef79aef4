#include "daemon_handover.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <new>

namespace gantry::module {
namespace {

// Shared (not FUTEX_PRIVATE) futexes: the waiters are other processes.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  timespec timeout{1, 0};  // re-check now and then; a lost wake-up costs at most this
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &timeout,
          nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

void SlotHandover::hand_over(int cell) noexcept {
  set_state(cell, CellState::draining);
  give_token();
}

void SlotHandover::give_token() noexcept {
  go.store(1);
  futex_wake_all(&go);
}

void SlotHandover::wait_for_turn(int cell) noexcept {
  for (;;) {
    std::uint32_t expected = 1;
    if (go.compare_exchange_strong(expected, 0)) break;  // one standby wins the token
    futex_wait(&go, 0);
  }
  set_state(cell, CellState::serving);
}

SlotHandover* map_handovers(std::size_t slots) noexcept {
  const std::size_t bytes = sizeof(SlotHandover) * (slots ? slots : 1);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* handovers = static_cast<SlotHandover*>(memory);
  for (std::size_t i = 0; i < slots; ++i) new (&handovers[i]) SlotHandover();
  return handovers;
}

void unmap_handovers(SlotHandover* handovers, std::size_t slots) noexcept {
  if (handovers) munmap(handovers, sizeof(SlotHandover) * (slots ? slots : 1));
}

}  // namespace gantry::module
