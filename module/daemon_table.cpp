#include "daemon_table.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <system_error>


namespace gantry::module {

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

void TemplateRecord::write(const TemplateSnapshot& s) noexcept {
  const std::uint32_t seq = seq_.load(std::memory_order_relaxed);
  seq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  pid_.store(s.pid, std::memory_order_relaxed);
  ready_.store(s.ready ? 1 : 0, std::memory_order_relaxed);
  started_us_.store(s.started_us, std::memory_order_relaxed);
  rss_.store(s.memory.rss, std::memory_order_relaxed);
  pss_.store(s.memory.pss, std::memory_order_relaxed);
  uss_.store(s.memory.uss, std::memory_order_relaxed);
  sampled_us_.store(s.sampled_us, std::memory_order_relaxed);
  seq_.store(seq + 2, std::memory_order_release);
}

TemplateSnapshot TemplateRecord::read() const noexcept {
  TemplateSnapshot s;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint32_t before = seq_.load(std::memory_order_acquire);
    if (before & 1) continue;
    s.pid = pid_.load(std::memory_order_relaxed);
    s.ready = ready_.load(std::memory_order_relaxed) != 0;
    s.started_us = started_us_.load(std::memory_order_relaxed);
    s.memory.rss = rss_.load(std::memory_order_relaxed);
    s.memory.pss = pss_.load(std::memory_order_relaxed);
    s.memory.uss = uss_.load(std::memory_order_relaxed);
    s.sampled_us = sampled_us_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) == before) break;
  }
  return s;
}

DaemonTable* DaemonTable::create(std::size_t slots, std::size_t groups) {
  const std::size_t bytes = sizeof(DaemonTable) + slots * sizeof(SlotRecord) + groups * sizeof(TemplateRecord);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mmap of the daemon status table");
  auto* table = new (memory) DaemonTable();
  table->slots_ = slots;
  table->groups_ = groups;
  table->bytes_ = bytes;
  for (std::size_t i = 0; i < slots; ++i) new (table->records() + i) SlotRecord();
  for (std::size_t i = 0; i < groups; ++i) new (table->templates() + i) TemplateRecord();
  return table;
}

void DaemonTable::make_read_only() noexcept { mprotect(this, bytes_, PROT_READ); }

void DaemonTable::destroy(DaemonTable* table) noexcept {
  if (table) munmap(table, table->bytes_);
}

}  // namespace gantry::module
