// The supervisor's policy (core/supervisor_policy.cpp) driven by a fake host: no Apache, no
// processes, a clock that moves only when a test says so. Each daemon process is played by
// the test through the same SlotPage a real one uses.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "gantry/daemon_api.hpp"
#include "gantry/supervisor_policy.hpp"

using namespace gantry;
using namespace gantry::supervisor;

namespace {

struct FakeHost final : Host {
  struct Spawned {
    std::size_t slot;
    int cell;
    bool standby;
    unsigned delay;
    pid_t pid;
  };
  std::vector<Spawned> spawned;
  std::vector<std::pair<pid_t, int>> signals;
  std::set<pid_t> gone;                  // processes reap() reports as gone
  std::map<pid_t, Micros> exits_at;      // a process that leaves by itself at that time
  std::set<pid_t> dies_of_sigkill_only;  // ignores SIGTERM
  std::map<std::size_t, std::pair<pid_t, bool>> table;  // slot -> (pid, stopping)
  Micros clock = 1'000 * kSecond;
  pid_t next_pid = 100;
  bool fail_spawns = false;

  pid_t spawn(const Slot& slot, int cell, bool standby, unsigned delay) override {
    if (fail_spawns) return -1;
    spawned.push_back({slot.id, cell, standby, delay, next_pid});
    return next_pid++;
  }
  void signal(pid_t pid, int sig) override {
    signals.push_back({pid, sig});
    if (sig == SIGKILL || (sig == SIGTERM && !dies_of_sigkill_only.count(pid))) exits_at[pid] = clock;
  }
  bool reap(pid_t pid) override {
    if (auto it = exits_at.find(pid); it != exits_at.end() && it->second <= clock) gone.insert(pid);
    return gone.count(pid) != 0;
  }
  Micros now() override { return clock; }
  void pause(Micros us) override { clock += us; }
  void publish(const Slot& slot, pid_t pid, Micros, bool stopping) override {
    table[slot.id] = {pid, stopping};
  }
  int signals_to(pid_t pid, int sig) const {
    return static_cast<int>(std::count(signals.begin(), signals.end(), std::make_pair(pid, sig)));
  }
};

ExitEvidence killed_by(int sig) {
  ExitEvidence e;
  e.raw_status = sig;  // a raw wait status for a signal death is the signal number
  return e;
}

ExitEvidence exited(int status) {
  ExitEvidence e;
  e.raw_status = (status & 0xff) << 8;
  return e;
}

// Processes of a slot that hold a turn: serving ones, plus an offered token.
int turns(const Slot& slot) {
  const SlotHandover* h = slot.handover();
  int n = h->token_offered() ? 1 : 0;
  for (int c = 0; c < 2; ++c)
    if (slot.cells[c].alive && h->state(c) == CellState::serving) ++n;
  return n;
}

int serving(const Slot& slot) {
  int n = 0;
  for (int c = 0; c < 2; ++c)
    if (slot.cells[c].alive && slot.handover()->state(c) == CellState::serving) ++n;
  return n;
}

// Every waiting standby that can take the token does (as the real ones do, woken by futex).
void standbys_wake(Slot& slot) {
  for (int c = 0; c < 2; ++c)
    if (slot.cells[c].alive) slot.handover()->try_take_turn(c);
}

struct OneSlot {
  FakeHost host;
  SlotPages pages;
  std::unique_ptr<Policy> policy;
  explicit OneSlot(bool standby, unsigned processes = 1) {
    BOOST_REQUIRE(pages.create(processes));
    policy = std::make_unique<Policy>(host, std::vector<GroupShape>{{processes, standby}}, &pages,
                                      std::uint64_t{1} << 40);
    policy->start_all();
  }
  Slot& slot(std::size_t i = 0) { return policy->slot(i); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(supervisor_policy)

BOOST_AUTO_TEST_CASE(start_forks_a_process_per_slot_and_a_standby_where_kept) {
  FakeHost host;
  SlotPages pages;
  BOOST_REQUIRE(pages.create(3));
  Policy policy(host, {{2, true}, {1, false}}, &pages, 1ull << 40);
  policy.start_all();
  BOOST_TEST(host.spawned.size() == 5u);
  for (std::size_t i = 0; i < 2; ++i) {
    const Slot& s = policy.slot(i);
    BOOST_TEST(s.standby);
    BOOST_TEST((s.handover()->state(0) == CellState::serving));
    BOOST_TEST((s.handover()->state(1) == CellState::waiting));
    BOOST_TEST(host.table[i].first == s.cells[0].pid);  // the standby is not published
  }
  const Slot& plain = policy.slot(2);
  BOOST_TEST(!plain.standby);
  BOOST_TEST(plain.group == 1u);
  BOOST_TEST(plain.index == 0u);
  BOOST_TEST(policy.first_slot(1) == 2u);
  BOOST_TEST(host.table[2].first == plain.cells[0].pid);
}

BOOST_AUTO_TEST_CASE(a_group_goes_without_standbys_when_the_pages_are_missing) {
  FakeHost host;
  Policy policy(host, {{1, true}}, nullptr, 1ull << 40);
  policy.start_all();
  BOOST_TEST(host.spawned.size() == 1u);
  BOOST_TEST(!policy.slot(0).standby);
}

BOOST_AUTO_TEST_CASE(a_crash_is_replaced_and_recorded) {
  OneSlot t(false);
  const pid_t first = t.slot().cells[0].pid;
  t.host.clock += 60 * kSecond;
  const Death d = t.policy->on_death(0, 0, killed_by(SIGSEGV), false);
  BOOST_TEST(d.pid == first);
  BOOST_TEST((d.cause.kind == ExitCause::Kind::signaled));
  BOOST_TEST(d.cause.code == SIGSEGV);
  BOOST_TEST(d.cause.lived_us == 60 * kSecond);
  BOOST_TEST(!d.intentional);
  BOOST_TEST(d.replaced);
  BOOST_TEST(d.delay_seconds == 0u);  // it lived long: no back-off
  BOOST_TEST(t.host.spawned.size() == 2u);
  BOOST_TEST(t.slot().restarts == 1u);
  BOOST_TEST(t.slot().last_exit.pid == first);
  BOOST_TEST(t.host.table[0].first == t.slot().cells[0].pid);
  BOOST_TEST(t.slot().cells[0].pid != first);
}

BOOST_AUTO_TEST_CASE(a_crash_loop_backs_off_exponentially_up_to_30_s_and_recovers) {
  OneSlot t(false);
  std::vector<unsigned> delays;
  for (int i = 0; i < 8; ++i) {
    t.host.clock += kSecond;
    delays.push_back(t.policy->on_death(0, 0, exited(1), false).delay_seconds);
  }
  BOOST_TEST(delays == (std::vector<unsigned>{1, 2, 4, 8, 16, 30, 30, 30}), boost::test_tools::per_element());
  for (std::size_t i = 1; i < t.host.spawned.size(); ++i)
    BOOST_TEST(t.host.spawned[i].delay == delays[i - 1]);
  // One long life resets the count.
  t.host.clock += 11 * kSecond;
  BOOST_TEST(t.policy->on_death(0, 0, exited(1), false).delay_seconds == 0u);
  t.host.clock += kSecond;
  BOOST_TEST(t.policy->on_death(0, 0, exited(1), false).delay_seconds == 1u);
}

BOOST_AUTO_TEST_CASE(the_daemons_own_recycles_are_replaced_at_once_even_when_quick) {
  OneSlot t(false);
  for (int i = 0; i < 5; ++i) {
    const pid_t pid = t.slot().cells[0].pid;
    t.slot().page->note_own_exit(0, pid, static_cast<int>(DaemonExit::maximum_requests));
    // The MPM's decoded number alone (101) would read as a signal: the own note wins.
    ExitEvidence e;
    e.reported = 101;
    const Death d = t.policy->on_death(0, 0, e, false);
    BOOST_TEST(d.intentional);
    BOOST_TEST(d.cause.code == 101);
    BOOST_TEST(d.delay_seconds == 0u);
  }
  // A startup failure is not a recycle: it backs off.
  t.slot().page->note_own_exit(0, t.slot().cells[0].pid, static_cast<int>(DaemonExit::startup_failed));
  BOOST_TEST(t.policy->on_death(0, 0, ExitEvidence{}, false).delay_seconds == 1u);
}

BOOST_AUTO_TEST_CASE(an_exit_note_of_another_pid_is_not_believed) {
  OneSlot t(false);
  t.slot().page->note_own_exit(0, t.slot().cells[0].pid + 1, 101);
  ExitEvidence e;
  e.reported = 9;
  const Death d = t.policy->on_death(0, 0, e, false);
  BOOST_TEST((d.cause.kind == ExitCause::Kind::signaled));
  BOOST_TEST(d.cause.code == 9);
}

BOOST_AUTO_TEST_CASE(a_recycle_hands_over_to_the_standby_and_a_new_standby_follows) {
  OneSlot t(true);
  Slot& s = t.slot();
  const pid_t old = s.cells[0].pid, standby = s.cells[1].pid;
  s.handover()->hand_over(0);  // the serving process recycles
  BOOST_TEST(turns(s) == 1);
  BOOST_TEST(s.handover()->try_take_turn(1));  // the standby takes over
  BOOST_TEST(serving(s) == 1);
  BOOST_TEST((s.handover()->state(0) == CellState::draining));
  s.page->note_own_exit(0, old, static_cast<int>(DaemonExit::maximum_requests));
  const Death d = t.policy->on_death(0, 0, ExitEvidence{}, false);
  BOOST_TEST(d.intentional);
  BOOST_TEST(d.standby_took_over);
  BOOST_TEST(t.host.table[0].first == standby);  // published as the slot's process
  BOOST_TEST(s.cells[0].alive);                  // a new standby in the freed cell
  BOOST_TEST((s.handover()->state(0) == CellState::waiting));
  BOOST_TEST(t.host.spawned.back().standby);
  BOOST_TEST(turns(s) == 1);
}

BOOST_AUTO_TEST_CASE(a_serving_process_that_dies_without_handing_over_gives_the_standby_the_turn) {
  OneSlot t(true);
  Slot& s = t.slot();
  const pid_t standby = s.cells[1].pid;
  const Death d = t.policy->on_death(0, 0, killed_by(SIGKILL), false);
  BOOST_TEST(!d.intentional);
  BOOST_TEST(d.standby_took_over);
  BOOST_TEST(s.handover()->token_offered());
  BOOST_TEST(s.handover()->try_take_turn(1));
  BOOST_TEST(!s.handover()->token_offered());
  BOOST_TEST(serving(s) == 1);
  BOOST_TEST(s.cells[0].alive);  // the next standby, already forked
  BOOST_TEST((s.handover()->state(0) == CellState::waiting));
  t.policy->refill_all();  // the parent's next look publishes the new serving process
  BOOST_TEST(t.host.table[0].first == standby);
}

BOOST_AUTO_TEST_CASE(a_standby_that_dies_is_replaced_by_a_standby_without_counting_a_restart) {
  OneSlot t(true);
  Slot& s = t.slot();
  const pid_t serving_pid = s.cells[0].pid;
  const Death d = t.policy->on_death(0, 1, killed_by(SIGSEGV), false);
  BOOST_TEST(d.was_standby);
  BOOST_TEST(s.restarts == 0u);
  BOOST_TEST(t.host.spawned.back().standby);
  BOOST_TEST(t.host.spawned.back().cell == 1);
  BOOST_TEST(s.cells[0].pid == serving_pid);
  BOOST_TEST(t.host.table[0].first == serving_pid);
  BOOST_TEST(turns(s) == 1);
  // A standby dying of SIGTERM/SIGHUP (Apache's process-group signal) is not a failure.
  BOOST_TEST(t.policy->on_death(0, 1, killed_by(SIGHUP), false).intentional);
}

BOOST_AUTO_TEST_CASE(a_standby_dying_after_the_token_was_offered_leaves_the_token_to_its_successor) {
  OneSlot t(true);
  Slot& s = t.slot();
  s.handover()->hand_over(0);  // offered; the standby dies before taking it
  t.policy->on_death(0, 1, killed_by(SIGSEGV), false);
  BOOST_TEST(s.handover()->token_offered());
  BOOST_TEST((s.handover()->state(1) == CellState::waiting));  // its successor
  BOOST_TEST(s.handover()->try_take_turn(1));
  BOOST_TEST(turns(s) == 1);
  // Now the draining one leaves: one serving, a new standby.
  t.policy->on_death(0, 0, exited(101), false);
  BOOST_TEST(serving(s) == 1);
  BOOST_TEST((s.handover()->state(0) == CellState::waiting));
}

// The race this layout exists for: the parent used to read the cells, then the token,
// separately; a standby that took the token in between got a second token given to the
// slot (two accepting processes once the next standby started). Every order of these
// events, each one atomic as in the real processes, must keep at most one turn per slot,
// and exactly one once the standbys have run.
BOOST_AUTO_TEST_CASE(every_interleaving_of_hand_over_takeover_crash_and_monitor_keeps_one_turn) {
  enum Event { kHandOver, kTake, kServingDies, kStandbyDies, kMonitor, kTake2 };
  std::vector<int> events{kHandOver, kTake, kServingDies, kStandbyDies, kMonitor, kTake2};
  std::sort(events.begin(), events.end());
  int orders = 0;
  do {
    OneSlot t(true);
    Slot& s = t.slot();
    const pid_t first = s.cells[0].pid, second = s.cells[1].pid;
    auto cell_of = [&](pid_t pid) { return s.cells[0].pid == pid && s.cells[0].alive ? 0 : s.cells[1].pid == pid && s.cells[1].alive ? 1 : -1; };
    for (int e : events) {
      switch (e) {
        case kHandOver:
          if (const int c = cell_of(first); c >= 0 && s.handover()->state(c) == CellState::serving) s.handover()->hand_over(c);
          break;
        case kTake:
        case kTake2:
          for (int c = 0; c < 2; ++c)
            if (s.cells[c].alive) s.handover()->try_take_turn(c);
          break;
        case kServingDies:
          if (const int c = cell_of(first); c >= 0) t.policy->on_death(0, c, killed_by(SIGSEGV), false);
          break;
        case kStandbyDies:
          if (const int c = cell_of(second); c >= 0) t.policy->on_death(0, c, killed_by(SIGSEGV), false);
          break;
        case kMonitor:
          t.policy->refill_all();
          break;
      }
      BOOST_TEST_REQUIRE(turns(s) <= 1);
      BOOST_TEST_REQUIRE(serving(s) <= 1);
    }
    t.policy->refill_all();
    standbys_wake(s);
    BOOST_TEST_REQUIRE(turns(s) == 1);
    BOOST_TEST_REQUIRE(serving(s) == 1);
    ++orders;
  } while (std::next_permutation(events.begin(), events.end()));
  BOOST_TEST(orders == 720);
}

// The same with real threads racing on one word: a recycling process, its standby spinning
// for the token, and the parent settling the slot again and again meanwhile.
BOOST_AUTO_TEST_CASE(a_hand_over_racing_the_parent_on_threads_ends_with_one_serving_and_no_token) {
  for (int round = 0; round < 2000; ++round) {
    SlotPage page;
    SlotHandover& h = page.handover;
    h.set_state(0, CellState::serving);
    h.set_state(1, CellState::waiting);
    std::atomic<bool> go{false};
    std::thread recycler([&] {
      while (!go.load()) {}
      h.hand_over(0);
    });
    std::thread standby([&] {
      while (!go.load()) {}
      while (!h.try_take_turn(1)) {}
    });
    std::atomic<int> wrong{0};  // Boost.Test checks belong to the main thread
    std::thread parent([&] {
      while (!go.load()) {}
      for (int i = 0; i < 50; ++i) wrong += h.settle() != SlotHandover::Need::nothing;
    });
    go.store(true);
    recycler.join();
    standby.join();
    parent.join();
    BOOST_TEST_REQUIRE(wrong.load() == 0);
    BOOST_TEST_REQUIRE((h.state(0) == CellState::draining));
    BOOST_TEST_REQUIRE((h.state(1) == CellState::serving));
    BOOST_TEST_REQUIRE(!h.token_offered());
  }
}

BOOST_AUTO_TEST_CASE(the_parent_never_offers_a_second_token_to_a_standby_that_took_the_first) {
  OneSlot t(true);
  Slot& s = t.slot();
  s.handover()->hand_over(0);
  BOOST_TEST(s.handover()->try_take_turn(1));
  // Serving is gone and nobody holds a token in this word only if the taker is ignored:
  // settle() sees the taker serving in the same word.
  BOOST_TEST((s.handover()->settle() == SlotHandover::Need::nothing));
  BOOST_TEST(!s.handover()->token_offered());
  // hand_over from a cell that is not serving gives nothing away.
  s.handover()->hand_over(0);
  BOOST_TEST(!s.handover()->token_offered());
}

BOOST_AUTO_TEST_CASE(a_scribbled_page_is_reconciled_and_never_believed) {
  OneSlot t(true);
  Slot& s = t.slot();
  // A tenant writes all ones over its own slot's page.
  std::memset(static_cast<void*>(s.page), 0xff, sizeof(SlotPage));
  const Death d = t.policy->on_death(0, 0, killed_by(SIGKILL), false);
  BOOST_TEST(d.rss == 0u);  // 2^64-1 bytes is no RSS
  BOOST_TEST((d.cause.kind == ExitCause::Kind::signaled));
  BOOST_TEST(d.cause.code == SIGKILL);
  // The word is rebuilt from what the parent knows: cell 0 was just refilled, and the
  // slot ends with exactly one turn.
  standbys_wake(s);
  t.policy->refill_all();
  standbys_wake(s);
  BOOST_TEST((s.handover()->word() & ~SlotHandover::kValidBits) == 0u);
  BOOST_TEST(turns(s) == 1);
}

BOOST_AUTO_TEST_CASE(a_failed_fork_is_retried_by_the_monitor) {
  OneSlot t(false);
  t.host.fail_spawns = true;
  t.policy->on_death(0, 0, killed_by(SIGSEGV), false);
  BOOST_TEST(!t.slot().cells[0].alive);
  t.policy->refill_all();
  BOOST_TEST(!t.slot().cells[0].alive);
  t.host.fail_spawns = false;
  t.policy->refill_all();
  BOOST_TEST(t.slot().cells[0].alive);
}

BOOST_AUTO_TEST_CASE(a_reclaim_stops_the_slot_and_its_death_is_not_replaced) {
  OneSlot t(false);
  const pid_t pid = t.slot().cells[0].pid;
  t.policy->on_reclaim(0, 0);
  BOOST_TEST(t.host.signals_to(pid, SIGTERM) == 1);
  BOOST_TEST(t.host.table[0].second);  // stopping
  const Death d = t.policy->on_death(0, 0, killed_by(SIGTERM), false);
  BOOST_TEST(d.intentional);
  BOOST_TEST(!d.replaced);
  t.policy->refill_all();
  BOOST_TEST(t.host.spawned.size() == 1u);
}

BOOST_AUTO_TEST_CASE(deaths_while_apache_stops_are_not_replaced) {
  OneSlot t(false);
  const Death d = t.policy->on_death(0, 0, killed_by(SIGTERM), true);
  BOOST_TEST(d.intentional);
  BOOST_TEST(!d.replaced);
  BOOST_TEST(t.host.spawned.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_graceful_restart_retires_every_live_process_and_replaces_none) {
  OneSlot t(true, 2);
  const auto before = t.policy->live_pids();
  BOOST_TEST(before.size() == 4u);
  const std::vector<Departing> gone = t.policy->retire(kRetireSignal);
  BOOST_TEST(gone.size() == 4u);
  for (pid_t pid : before) BOOST_TEST(t.host.signals_to(pid, kRetireSignal) == 1);
  BOOST_TEST(t.host.table[0].second);
  BOOST_TEST(t.host.table[1].second);
  // The draining processes leave one by one; nothing is started in their place.
  for (const Departing& p : gone) {
    const Death d = t.policy->on_death(p.slot, p.cell, exited(110), false);
    BOOST_TEST(!d.replaced);
  }
  t.policy->refill_all();
  BOOST_TEST(t.host.spawned.size() == 4u);
  BOOST_TEST(t.policy->live_pids().empty());
}

BOOST_AUTO_TEST_CASE(a_stop_waits_for_all_processes_within_one_deadline) {
  FakeHost host;
  std::vector<pid_t> pids;
  for (pid_t pid = 1; pid <= 50; ++pid) {
    pids.push_back(pid);
    if (pid % 10 == 0) host.dies_of_sigkill_only.insert(pid);
  }
  const Micros start = host.clock;
  const auto killed = stop_processes(host, pids, 5 * kSecond, 2 * kSecond, SIGTERM);
  BOOST_TEST(killed.size() == 5u);
  for (pid_t pid : killed) BOOST_TEST(pid % 10 == 0);
  for (pid_t pid : pids) BOOST_TEST(host.gone.count(pid) == 1u);
  // One deadline for all: 5 s for SIGTERM, then at most 2 s after SIGKILL - not 2 s each.
  BOOST_TEST(host.clock - start <= 7 * kSecond + 20'000);
  BOOST_TEST(host.clock - start >= 5 * kSecond);
}

BOOST_AUTO_TEST_CASE(a_stop_of_processes_that_all_leave_returns_at_once) {
  FakeHost host;
  const auto killed = stop_processes(host, {1, 2, 3}, 5 * kSecond, 2 * kSecond, SIGTERM);
  BOOST_TEST(killed.empty());
  BOOST_TEST(host.clock == 1'000 * kSecond);
}

BOOST_AUTO_TEST_CASE(retired_processes_stopped_with_sigkill_get_no_second_signal) {
  FakeHost host;
  host.dies_of_sigkill_only.insert(7);
  const Micros start = host.clock;
  const auto killed = stop_processes(host, {7, 8}, 2 * kSecond, 2 * kSecond, SIGKILL);
  BOOST_TEST(killed.empty());
  BOOST_TEST(host.signals.size() == 2u);
  BOOST_TEST(host.clock == start);
}

BOOST_AUTO_TEST_CASE(five_thousand_slots_start_crash_recover_and_retire) {
  FakeHost host;
  SlotPages pages;
  constexpr unsigned kSlots = 5000;
  BOOST_REQUIRE(pages.create(kSlots));
  Policy policy(host, {{kSlots / 2, true}, {kSlots / 2, false}}, &pages, 1ull << 40);
  policy.start_all();
  BOOST_TEST(host.spawned.size() == kSlots + kSlots / 2);
  BOOST_TEST(policy.live_pids().size() == kSlots + kSlots / 2);
  for (std::size_t i = 0; i < kSlots; ++i) policy.on_death(i, 0, killed_by(SIGKILL), false);
  for (std::size_t i = 0; i < kSlots / 2; ++i) {
    standbys_wake(policy.slot(i));
    BOOST_TEST_REQUIRE(turns(policy.slot(i)) == 1);
  }
  for (std::size_t i = kSlots / 2; i < kSlots; ++i) BOOST_TEST_REQUIRE(policy.slot(i).cells[0].alive);
  BOOST_TEST(policy.live_pids().size() == kSlots + kSlots / 2);
  const auto gone = policy.retire(kRetireSignal);
  BOOST_TEST(gone.size() == kSlots + kSlots / 2);
  std::vector<pid_t> pids;
  for (const Departing& d : gone) pids.push_back(d.pid);
  BOOST_TEST(stop_processes(host, pids, 5 * kSecond, 2 * kSecond, SIGTERM).empty());
}

BOOST_AUTO_TEST_SUITE_END()
