#include "daemon_handover.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

HandoverPage map_handovers(std::size_t slots) noexcept {
  HandoverPage page;
  const std::size_t bytes = sizeof(SlotHandover) * (slots ? slots : 1);
  const int fd = memfd_create("gantry-handover", MFD_CLOEXEC);
  if (fd < 0) return page;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    return page;
  }
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    close(fd);
    return page;
  }
  page.slots = static_cast<SlotHandover*>(memory);
  page.count = slots;
  page.fd = fd;
  for (std::size_t i = 0; i < slots; ++i) new (&page.slots[i]) SlotHandover();
  return page;
}

void unmap_handovers(HandoverPage& page) noexcept {
  if (page.slots) munmap(page.slots, sizeof(SlotHandover) * (page.count ? page.count : 1));
  if (page.fd >= 0) close(page.fd);
  page = HandoverPage{};
}

HandoverPage attach_handovers(int fd) noexcept {
  HandoverPage page;
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(SlotHandover) != 0) return page;
  void* memory = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) return page;
  page.slots = static_cast<SlotHandover*>(memory);
  page.count = static_cast<std::size_t>(st.st_size) / sizeof(SlotHandover);
  return page;  // fd stays the caller's
}

}  // namespace gantry::module
