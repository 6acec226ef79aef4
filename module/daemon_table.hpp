#pragma once
// The daemon status table: one record per daemon process slot (group x process index) of a
// server generation, in memory shared by Apache's parent and every Apache child.
//
// Why: when a request to a daemon fails, the Apache child that answers 502/503 knows only
// that the socket went quiet. The parent is the one that reaps the daemon and learns how it
// ended (exit status, signal, core dump). It writes that here, and the child quotes it in
// its error line ("killed by SIGKILL (possibly the OOM killer)"), so the operator reads the
// cause next to the failed URL instead of correlating two log lines by hand.
//
// Memory: a shared anonymous mapping made by the parent in post_config, before the MPM
// forks the children, so every child of that generation sees the parent's updates. Daemon
// processes never see it (they note their own exits in their slot's page,
// gantry/slot_page.hpp), and an Apache child maps it read-only (docs/shared-memory.md).
// One writer (the parent's main thread); many readers. Each record is guarded by a
// sequence counter so a reader never mixes two updates.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "gantry/exit_cause.hpp"
#include "gantry/smaps_rollup.hpp"

namespace gantry::module {

// How a process ended (gantry/exit_cause.hpp: decoded in one place).
using gantry::ExitCause;
using gantry::signal_name;

// A consistent copy of one slot.
struct SlotSnapshot {
  pid_t pid = 0;                 // running process, 0 if none
  std::int64_t started_us = 0;   // when it was forked
  std::uint32_t restarts = 0;    // how many times the slot was refilled
  std::uint32_t generation = 0;
  bool stopping = false;         // the parent sent it SIGTERM on purpose (stop/restart)
  ExitCause last_exit;           // how the previous process of this slot ended
};

class SlotRecord {
 public:
  void write(const SlotSnapshot& s) noexcept;  // parent only
  SlotSnapshot read() const noexcept;          // anyone

 private:
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::int32_t> pid_{0};
  std::atomic<std::int64_t> started_us_{0};
  std::atomic<std::uint32_t> restarts_{0};
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<std::uint32_t> stopping_{0};
  std::atomic<std::uint32_t> exit_kind_{0};
  std::atomic<std::uint32_t> exit_core_{0};
  std::atomic<std::int32_t> exit_code_{0};
  std::atomic<std::int32_t> exit_pid_{0};
  std::atomic<std::int64_t> exit_at_us_{0};
  std::atomic<std::int64_t> exit_lived_us_{0};
};

static_assert(std::atomic<std::int64_t>::is_always_lock_free,
              "the shared table relies on lock-free 64-bit atomics across processes");

// A group's template (docs/template.md) as the parent last saw it, for the status page: the
// Apache children cannot read the memory of a process running as another user, nor know
// which template is current.
struct TemplateSnapshot {
  pid_t pid = 0;                 // 0: none running
  bool ready = false;            // forking the group's processes
  std::int64_t started_us = 0;   // its launch
  MemoryRollup memory;           // its own RSS/PSS/USS (zeros: not sampled yet)
  std::int64_t sampled_us = 0;
};

class TemplateRecord {
 public:
  void write(const TemplateSnapshot& s) noexcept;  // parent only
  TemplateSnapshot read() const noexcept;          // anyone

 private:
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::int32_t> pid_{0};
  std::atomic<std::uint32_t> ready_{0};
  std::atomic<std::int64_t> started_us_{0};
  std::atomic<std::uint64_t> rss_{0}, pss_{0}, uss_{0};
  std::atomic<std::int64_t> sampled_us_{0};
};

// The mapping itself. Never unmapped by a child; the parent unmaps a generation's table
// when the last process of that generation is gone.
class DaemonTable {
 public:
  // Maps a table of `slots` records and `groups` template records. Throws std::system_error.
  static DaemonTable* create(std::size_t slots, std::size_t groups);
  // Unmaps it (the parent, when no process of its generation is left).
  static void destroy(DaemonTable* table) noexcept;
  // An Apache child: its mapping becomes read-only (only the parent writes the table).
  void make_read_only() noexcept;

  std::size_t size() const { return slots_; }
  SlotRecord& slot(std::size_t i) { return records()[i]; }
  const SlotRecord& slot(std::size_t i) const { return records()[i]; }
  std::size_t groups() const { return groups_; }
  TemplateRecord& template_of(std::size_t group) { return templates()[group]; }
  const TemplateRecord& template_of(std::size_t group) const { return templates()[group]; }

 private:
  DaemonTable() = default;
  // The records follow this header in the same mapping.
  SlotRecord* records() const {
    return reinterpret_cast<SlotRecord*>(const_cast<DaemonTable*>(this) + 1);
  }
  // Then the groups' template records.
  TemplateRecord* templates() const { return reinterpret_cast<TemplateRecord*>(records() + slots_); }
  std::size_t slots_ = 0;
  std::size_t groups_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace gantry::module
