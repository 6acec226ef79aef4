#include "gantry/supervisor_policy.hpp"

#include <algorithm>
#include <csignal>

#include "gantry/daemon_api.hpp"

namespace gantry::supervisor {

int Slot::free_cell() const {
  for (int c = 0; c < cells_used(); ++c)
    if (!cells[c].alive) return c;
  return -1;
}

bool intentional_exit(const ExitCause& cause) {
  return cause.kind == ExitCause::Kind::exited &&
         cause.code != static_cast<int>(DaemonExit::startup_failed) &&
         describe_daemon_exit(cause.code) != nullptr;
}

unsigned backoff_seconds(unsigned quick_deaths) {
  if (!quick_deaths) return 0;
  return std::min(kMaxBackoffSeconds, 1u << std::min(quick_deaths - 1, 5u));
}

Policy::Policy(Host& host, const std::vector<GroupShape>& groups, SlotPages* pages,
               std::uint64_t rss_limit)
    : host_(host), rss_limit_(rss_limit) {
  std::size_t total = 0;
  for (const GroupShape& g : groups) first_.push_back(total), total += g.processes;
  slots_.resize(total);
  const bool have_pages = pages && pages->ok() && pages->size() >= total;
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    for (unsigned i = 0; i < groups[gi].processes; ++i) {
      Slot& slot = slots_[first_[gi] + i];
      slot.id = first_[gi] + i;
      slot.group = gi;
      slot.index = i;
      slot.page = have_pages ? pages->page(slot.id) : nullptr;
      // Without the shared pages (mmap failed) the group merely goes without standbys.
      slot.standby = groups[gi].keeps_standby && slot.page;
    }
  }
}

void Policy::start_all() {
  for (Slot& slot : slots_) {
    fork_cell(slot, 0, false, 0);
    if (slot.standby) fork_cell(slot, 1, true, 0);
  }
}

void Policy::fork_cell(Slot& slot, int index, bool standby, unsigned delay_seconds) {
  Cell& cell = slot.cells[index];
  // The state is set before the fork, so the parent never sees a live process without one.
  if (SlotHandover* h = slot.handover())
    h->set_state(index, standby ? CellState::waiting : CellState::serving);
  if (slot.page) slot.page->clear_cell(index);
  const pid_t pid = host_.spawn(slot, index, standby, delay_seconds);
  if (pid <= 0) {
    cell = Cell{};
    if (SlotHandover* h = slot.handover()) h->set_state(index, CellState::empty);
    return;
  }
  cell.pid = pid;
  cell.alive = true;
  cell.started = host_.now();
  slot.stopping = false;
  if (!standby) {
    host_.publish(slot, pid, cell.started, false);
    slot.published = pid;
  }
}

// The standby that took over is the slot's process now: say so in the status table.
void Policy::publish_serving(Slot& slot) {
  SlotHandover* h = slot.handover();
  if (!h) return;
  for (int c = 0; c < 2; ++c) {
    const Cell& cell = slot.cells[c];
    if (cell.alive && h->state(c) == CellState::serving && cell.pid != slot.published) {
      host_.publish(slot, cell.pid, host_.now(), false);
      slot.published = cell.pid;
    }
  }
}

// After a death: make sure one process of the slot accepts (or is about to), and that a
// standby waits when the group keeps one.
void Policy::refill(Slot& slot, unsigned delay_seconds) {
  SlotHandover* h = slot.handover();
  if (!h) {
    if (!slot.cells[0].alive) fork_cell(slot, 0, false, delay_seconds);
    return;
  }
  // A dead cell is empty whatever the page says (a tenant may have scribbled on it).
  h->reconcile(slot.cells[0].alive, slot.cells[1].alive);
  if (h->settle() == SlotHandover::Need::process) {
    // Nobody serves and no standby waits: a serving process, then a standby behind it.
    if (const int c = slot.free_cell(); c >= 0) fork_cell(slot, c, false, delay_seconds);
  }
  publish_serving(slot);
  if (const int c = slot.free_cell(); c >= 0) fork_cell(slot, c, true, delay_seconds);
}

Death Policy::on_death(std::size_t slot_id, int index, const ExitEvidence& evidence,
                       bool apache_stopping) {
  Slot& slot = slots_[slot_id];
  Cell& cell = slot.cells[index];
  Death d;
  d.pid = cell.pid;
  d.lost = evidence.lost;
  if (!cell.alive) return d;
  cell.alive = false;
  SlotHandover* h = slot.handover();
  const CellState last = h ? h->state(index) : CellState::serving;
  if (h) h->set_state(index, CellState::empty);
  d.was_standby = last == CellState::waiting;

  ExitEvidence e = evidence;
  if (slot.page && e.own_exit < 0) e.own_exit = slot.page->own_exit_of(index, cell.pid);
  d.cause = decode_exit(e);
  d.cause.pid = cell.pid;
  d.cause.at_us = host_.now();
  d.cause.lived_us = cell.started ? d.cause.at_us - cell.started : 0;
  // The daemon names its RSS when it exits on its own; for a death it did not see coming,
  // the last RSS it noted is the best there is.
  d.rss = slot.page ? slot.page->checked_rss(index, rss_limit_) : 0;

  const bool planned = slot.stopping || stopping_;
  // Apache's stop signals its whole process group, and a standby (no handlers yet) dies of
  // SIGTERM: neither is a failure.
  const bool sigterm = d.cause.kind == ExitCause::Kind::signaled &&
                       (d.cause.code == SIGTERM || d.cause.code == kRetireSignal);
  const bool quiet = sigterm && (d.was_standby || apache_stopping);
  d.intentional = planned || quiet || intentional_exit(d.cause);
  if (!d.intentional && d.cause.lived_us < kQuickDeath) ++slot.quick_deaths;
  else if (d.cause.lived_us >= kQuickDeath) slot.quick_deaths = 0;
  d.replaced = !planned && !apache_stopping;
  // The daemon's own recycles (maximum-requests...) are replaced at once; crashes back off.
  d.delay_seconds = d.intentional ? 0 : backoff_seconds(slot.quick_deaths);
  if (!d.was_standby) {
    slot.last_exit = d.cause;
    ++slot.restarts;
    host_.publish(slot, 0, 0, planned);
    slot.published = 0;
  }
  if (d.replaced) {
    refill(slot, d.delay_seconds);
    const Cell& other = slot.cells[1 - index];
    d.standby_took_over = h && !d.was_standby && other.alive &&
                          (h->state(1 - index) == CellState::serving ||
                           (h->state(1 - index) == CellState::waiting && h->token_offered()));
  }
  return d;
}

void Policy::on_reclaim(std::size_t slot_id, int index) {
  Slot& slot = slots_[slot_id];
  slot.stopping = true;
  const Cell& cell = slot.cells[index];
  if (!cell.alive) return;
  host_.signal(cell.pid, SIGTERM);
  host_.publish(slot, cell.pid, cell.started, true);
}

void Policy::refill_all() {
  if (stopping_) return;
  for (Slot& slot : slots_)
    if (!slot.stopping) refill(slot, 0);
}

std::vector<Departing> Policy::retire(int signal) {
  stopping_ = true;
  std::vector<Departing> out;
  for (Slot& slot : slots_) {
    for (int c = 0; c < slot.cells_used(); ++c) {
      const Cell& cell = slot.cells[c];
      if (!cell.alive) continue;
      // Not SIGTERM: the old processes serve the old children's last requests first,
      // within graceful-timeout (a waiting standby simply dies of it).
      host_.signal(cell.pid, signal);
      SlotHandover* h = slot.handover();
      if (c == 0 || !h || h->state(c) != CellState::waiting)
        host_.publish(slot, cell.pid, cell.started, true);
      out.push_back({slot.id, c, cell.pid, cell.started});
    }
  }
  return out;
}

std::vector<pid_t> Policy::live_pids() const {
  std::vector<pid_t> pids;
  for (const Slot& slot : slots_)
    for (const Cell& cell : slot.cells)
      if (cell.alive) pids.push_back(cell.pid);
  return pids;
}

std::vector<pid_t> stop_processes(ProcessControl& host, std::vector<pid_t> pids, Micros term_wait,
                                  Micros kill_wait, int first_signal) {
  constexpr Micros kPoll = 20'000;
  auto reap_all = [&] {
    pids.erase(std::remove_if(pids.begin(), pids.end(), [&](pid_t pid) { return host.reap(pid); }),
               pids.end());
  };
  auto wait_until = [&](Micros deadline) {
    for (reap_all(); !pids.empty(); reap_all()) {
      const Micros now = host.now();
      if (now >= deadline) break;
      host.pause(std::min(kPoll, deadline - now));
    }
  };
  for (pid_t pid : pids) host.signal(pid, first_signal);
  wait_until(host.now() + term_wait);
  std::vector<pid_t> killed = pids;
  if (!pids.empty() && first_signal != SIGKILL) {
    for (pid_t pid : pids) host.signal(pid, SIGKILL);
    wait_until(host.now() + kill_wait);
  }
  return killed;
}

}  // namespace gantry::supervisor
