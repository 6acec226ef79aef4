#pragma once
// What Apache's parent decides about its daemon processes, without Apache: which process
// each slot needs, when a standby takes over, how long a crash-looping slot waits, what a
// graceful restart leaves draining, and how a stop waits for everything at once.
//
// The module's glue (module/daemon_supervisor.cpp) implements `Host` with the spawner,
// kill(), waitpid() and apr_time_now(), and turns `Death` records into log lines; the unit
// tests (tests/unit/supervisor_policy_tests.cpp) implement it with fakes and a fake clock.
//
//   Policy policy(host, {GroupShape{.processes = 2, .keeps_standby = true}}, &pages, rss_limit);
//   policy.start_all();                       // a process (and a standby) per slot
//   Death d = policy.on_death(slot, cell, evidence, apache_stopping);  // log d, that's all
//   policy.refill_all();                      // once a second: a fork that failed is retried
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gantry/exit_cause.hpp"
#include "gantry/slot_page.hpp"

namespace gantry::supervisor {

using Micros = std::int64_t;
inline constexpr Micros kSecond = 1'000'000;
// A process that dies sooner than this after starting, for a reason other than one of the
// daemon's own recycle exits, counts as a crash-loop death: its replacement waits
// 1, 2, 4 ... kMaxBackoffSeconds s (at most one restart per second per slot).
inline constexpr Micros kQuickDeath = 10 * kSecond;
inline constexpr unsigned kMaxBackoffSeconds = 30;

struct GroupShape {
  unsigned processes = 1;
  bool keeps_standby = false;  // a standby per slot (slot_page.hpp); needs the pages
};

struct Cell {
  pid_t pid = 0;
  bool alive = false;
  Micros started = 0;
};

struct Slot {
  std::size_t id = 0;       // across all groups: status-table record and page number
  std::size_t group = 0;    // index in the groups given to Policy
  unsigned index = 0;       // process number within the group
  Cell cells[2];            // cell 1 only with a standby
  SlotPage* page = nullptr;  // null if the pages could not be mapped
  bool standby = false;     // keeps a standby (so page is set)
  bool stopping = false;    // sent SIGTERM on purpose: do not replace it
  unsigned quick_deaths = 0;
  std::uint32_t restarts = 0;
  pid_t published = 0;      // the serving pid last written to the status table
  ExitCause last_exit;

  SlotHandover* handover() const { return standby ? &page->handover : nullptr; }
  int cells_used() const { return standby ? 2 : 1; }
  int free_cell() const;
};

// Signals, reaping and time: all a stop needs.
class ProcessControl {
 public:
  virtual void signal(pid_t pid, int sig) = 0;
  // Non-blocking: true once `pid` is gone (reaped now, or not our child any more).
  virtual bool reap(pid_t pid) = 0;
  virtual Micros now() = 0;
  virtual void pause(Micros us) = 0;

 protected:
  ~ProcessControl() = default;
};

// What the policy asks of the world.
class Host : public ProcessControl {
 public:
  // Starts the process of `cell` (a standby, or serving), after `delay_seconds` in the new
  // process; its pid, or <= 0 if it could not (the host logged why).
  virtual pid_t spawn(const Slot& slot, int cell, bool standby, unsigned delay_seconds) = 0;
  // The slot's public record (status table): `pid` serves since `started` (0: none).
  virtual void publish(const Slot& slot, pid_t pid, Micros started, bool stopping) = 0;

 protected:
  ~Host() = default;
};

// A death as the policy judged it; the glue writes the log line from it.
struct Death {
  pid_t pid = 0;
  ExitCause cause;
  bool lost = false;          // reaped elsewhere: the cause is unknown
  bool was_standby = false;
  bool intentional = false;   // a recycle, a planned stop: logged at debug level
  bool replaced = false;      // a replacement starts (or a standby took over)
  unsigned delay_seconds = 0; // back-off before the replacement runs
  bool standby_took_over = false;
  std::uint64_t rss = 0;      // its last noted RSS, 0 unknown (or implausible)
};

// A process a graceful restart left draining.
struct Departing {
  std::size_t slot = 0;
  int cell = 0;
  pid_t pid = 0;
  Micros started = 0;
};

class Policy {
 public:
  // `pages` may be null or not ok(): the groups then go without standbys. `rss_limit`:
  // an RSS noted above it is not believed (physical memory is a good limit).
  Policy(Host& host, const std::vector<GroupShape>& groups, SlotPages* pages,
         std::uint64_t rss_limit);

  std::size_t size() const { return slots_.size(); }
  Slot& slot(std::size_t id) { return slots_[id]; }
  const Slot& slot(std::size_t id) const { return slots_[id]; }
  std::size_t first_slot(std::size_t group) const { return first_[group]; }

  void start_all();
  // A cell's process died (or was reaped elsewhere: evidence.lost).
  Death on_death(std::size_t slot, int cell, const ExitEvidence& evidence, bool apache_stopping);
  // httpd's MPM reclaims its children (stop, or a non-graceful restart): SIGTERM ours.
  void on_reclaim(std::size_t slot, int cell);
  // Back-stop for a fork that failed (there is no other timer in the parent).
  void refill_all();
  // Graceful restart: every live process gets `signal` and is returned to be adopted.
  std::vector<Departing> retire(int signal);
  // Everything alive, for a stop.
  std::vector<pid_t> live_pids() const;
  // From now on nothing is replaced (pconf cleanup).
  void stop_replacing() { stopping_ = true; }
  bool replacing() const { return !stopping_; }

 private:
  void fork_cell(Slot& slot, int cell, bool standby, unsigned delay_seconds);
  void refill(Slot& slot, unsigned delay_seconds);
  void publish_serving(Slot& slot);

  Host& host_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> first_;
  std::uint64_t rss_limit_;
  bool stopping_ = false;
};

// A recycle the daemon chose (maximum-requests, inactivity, ...) or a clean shutdown.
bool intentional_exit(const ExitCause& cause);
// The back-off before a slot's replacement after `quick_deaths` deaths in a row.
unsigned backoff_seconds(unsigned quick_deaths);

// Stops `pids` together: SIGTERM to all, up to `term_wait` for all of them (one deadline,
// not one per process), SIGKILL to what is left and up to `kill_wait` for those. Returns
// the pids that needed SIGKILL.
std::vector<pid_t> stop_processes(ProcessControl& host, std::vector<pid_t> pids, Micros term_wait,
                                  Micros kill_wait, int first_signal);

}  // namespace gantry::supervisor
