#include "daemon_table.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <system_error>

#include "gantry/daemon_api.hpp"

namespace gantry::module {

std::string signal_name(int signal) {
  // sigabbrev_np is glibc >= 2.32 (Debian 12 has 2.36).
  if (const char* abbrev = sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signal);
}

std::string ExitCause::describe() const {
  switch (kind) {
    case Kind::none:
      return "no exit recorded";
    case Kind::exited: {
      std::string text = "exited with status " + std::to_string(code);
      if (const char* why = describe_daemon_exit(code)) text += std::string(" (") + why + ")";
      return text;
    }
    case Kind::signaled: {
      std::string text = "killed by " + signal_name(code);
      if (core_dumped) text += " (core dumped)";
      else if (killed_by_supervisor) text += " (sent by Apache's parent after shutdown-timeout)";
      // The kernel's OOM killer uses SIGKILL, and so does a supervisor giving up on a
      // process that ignored SIGTERM; we only know which when we sent it ourselves.
      else if (code == SIGKILL) text += " (possibly the OOM killer; see dmesg)";
      return text;
    }
  }
  return "?";
}

void SlotRecord::write(const SlotSnapshot& s) noexcept {
  // Seqlock, single writer: odd while writing.
  const std::uint32_t seq = seq_.load(std::memory_order_relaxed);
  seq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  pid_.store(s.pid, std::memory_order_relaxed);
  started_us_.store(s.started_us, std::memory_order_relaxed);
  restarts_.store(s.restarts, std::memory_order_relaxed);
  generation_.store(s.generation, std::memory_order_relaxed);
  stopping_.store(s.stopping ? 1 : 0, std::memory_order_relaxed);
  exit_kind_.store(static_cast<std::uint32_t>(s.last_exit.kind), std::memory_order_relaxed);
  exit_core_.store((s.last_exit.core_dumped ? 1u : 0u) | (s.last_exit.killed_by_supervisor ? 2u : 0u),
                   std::memory_order_relaxed);
  exit_code_.store(s.last_exit.code, std::memory_order_relaxed);
  exit_pid_.store(s.last_exit.pid, std::memory_order_relaxed);
  exit_at_us_.store(s.last_exit.at_us, std::memory_order_relaxed);
  exit_lived_us_.store(s.last_exit.lived_us, std::memory_order_relaxed);
  seq_.store(seq + 2, std::memory_order_release);
}

SlotSnapshot SlotRecord::read() const noexcept {
  SlotSnapshot s;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint32_t before = seq_.load(std::memory_order_acquire);
    if (before & 1) continue;
    s.pid = pid_.load(std::memory_order_relaxed);
    s.started_us = started_us_.load(std::memory_order_relaxed);
    s.restarts = restarts_.load(std::memory_order_relaxed);
    s.generation = generation_.load(std::memory_order_relaxed);
    s.stopping = stopping_.load(std::memory_order_relaxed) != 0;
    s.last_exit.kind = static_cast<ExitCause::Kind>(exit_kind_.load(std::memory_order_relaxed));
    const std::uint32_t flags = exit_core_.load(std::memory_order_relaxed);
    s.last_exit.core_dumped = (flags & 1) != 0;
    s.last_exit.killed_by_supervisor = (flags & 2) != 0;
    s.last_exit.code = exit_code_.load(std::memory_order_relaxed);
    s.last_exit.pid = exit_pid_.load(std::memory_order_relaxed);
    s.last_exit.at_us = exit_at_us_.load(std::memory_order_relaxed);
    s.last_exit.lived_us = exit_lived_us_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) == before) break;
  }
  return s;
}

void SlotRecord::note_own_exit(pid_t pid, int status) noexcept {
  own_exit_.store((static_cast<std::int64_t>(pid) << 16) | 0x100 | (status & 0xff),
                  std::memory_order_release);
}

int SlotRecord::own_exit(pid_t pid) const noexcept {
  const std::int64_t v = own_exit_.load(std::memory_order_acquire);
  if ((v >> 16) != pid || !(v & 0x100)) return -1;
  return static_cast<int>(v & 0xff);
}

DaemonTable* DaemonTable::create(std::size_t slots) {
  const std::size_t bytes = sizeof(DaemonTable) + slots * sizeof(SlotRecord);
  // A memfd, not an anonymous mapping: the daemon processes are started by the spawner,
  // which did not inherit this generation's memory; it passes them the descriptor.
  const int fd = memfd_create("gantry-daemon-table", MFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create for the daemon status table");
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "sizing the daemon status table");
  }
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "mmap of the daemon status table");
  }
  auto* table = new (memory) DaemonTable();
  table->slots_ = slots;
  table->bytes_ = bytes;
  table->fd_ = fd;
  for (std::size_t i = 0; i < slots; ++i) new (table->records() + i) SlotRecord();
  return table;
}

DaemonTable* DaemonTable::attach(int fd) noexcept {
  struct stat st{};
  if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(DaemonTable)) return nullptr;
  const auto bytes = static_cast<std::size_t>(st.st_size);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* table = static_cast<DaemonTable*>(memory);
  // The header was written by the parent; the mapping's own size bounds what is used.
  if (table->bytes_ != bytes || table->slots_ != (bytes - sizeof(DaemonTable)) / sizeof(SlotRecord)) {
    munmap(memory, bytes);
    return nullptr;
  }
  return table;
}

void DaemonTable::destroy(DaemonTable* table) noexcept {
  if (!table) return;
  const int fd = table->fd_;
  munmap(table, table->bytes_);
  if (fd >= 0) close(fd);
}

}  // namespace gantry::module
