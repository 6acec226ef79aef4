// Exit decoding, /proc/PID/stat parsing and the SIGCHLD zombie table: each in one place
// (core/exit_cause.cpp, core/proc_stat.cpp, core/zombie_watch.cpp).
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "gantry/exit_cause.hpp"
#include "gantry/proc_stat.hpp"
#include "gantry/smaps_rollup.hpp"
#include "gantry/zombie_watch.hpp"

using namespace gantry;

BOOST_AUTO_TEST_SUITE(exit_decoding)

BOOST_AUTO_TEST_CASE(raw_wait_statuses) {
  ExitCause c = decode_wait_status(3 << 8);
  BOOST_TEST((c.kind == ExitCause::Kind::exited));
  BOOST_TEST(c.code == 3);
  c = decode_wait_status(SIGSEGV | 0x80);
  BOOST_TEST((c.kind == ExitCause::Kind::signaled));
  BOOST_TEST(c.code == SIGSEGV);
  BOOST_TEST(c.core_dumped);
  BOOST_TEST(raw_wait_status(CLD_EXITED, 3) == (3 << 8));
  BOOST_TEST(raw_wait_status(CLD_KILLED, SIGKILL) == SIGKILL);
  BOOST_TEST(raw_wait_status(CLD_DUMPED, SIGABRT) == (SIGABRT | 0x80));
}

BOOST_AUTO_TEST_CASE(evidence_is_read_most_trustworthy_first) {
  ExitEvidence e;
  e.reported = 3;  // the MPM's number alone: a signal (no exit noted)
  BOOST_TEST((decode_exit(e).kind == ExitCause::Kind::signaled));
  BOOST_TEST(decode_exit(e).code == 3);
  e.raw_status = 3 << 8;  // the zombie said: exit status 3
  BOOST_TEST((decode_exit(e).kind == ExitCause::Kind::exited));
  e.own_exit = 101;  // the process's own note wins
  BOOST_TEST(decode_exit(e).code == 101);
  e.lost = true;
  BOOST_TEST((decode_exit(e).kind == ExitCause::Kind::none));
  ExitEvidence zero;
  BOOST_TEST((decode_exit(zero).kind == ExitCause::Kind::exited));
  ExitEvidence dumped;
  dumped.reported = SIGSEGV | 0x80;
  BOOST_TEST(decode_exit(dumped).core_dumped);
  ExitEvidence raw_from_apr;
  raw_from_apr.reported = 7 << 8;
  BOOST_TEST(decode_exit(raw_from_apr).code == 7);
}

BOOST_AUTO_TEST_CASE(descriptions) {
  ExitCause c = decode_wait_status(SIGKILL);
  BOOST_TEST(c.describe() == "killed by SIGKILL (possibly the OOM killer; see dmesg)");
  c.killed_by_supervisor = true;
  BOOST_TEST(c.describe() == "killed by SIGKILL (sent by Apache's parent after shutdown-timeout)");
  BOOST_TEST(decode_wait_status(101 << 8).describe() ==
             "exited with status 101 (recycled: maximum-requests reached)");
  BOOST_TEST(signal_name(SIGSEGV) == "SIGSEGV");
}

BOOST_AUTO_TEST_CASE(smaps_rollup_gives_rss_pss_and_uss) {
  const char* text =
      "55d0c0de0000-7ffd1234000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:               13712 kB\nPss:                2761 kB\nPss_Anon:           1100 kB\n"
      "Shared_Clean:       9000 kB\nShared_Dirty:       3200 kB\nPrivate_Clean:        12 kB\n"
      "Private_Dirty:      1500 kB\nSwapPss:               0 kB\n";
  const MemoryRollup m = parse_smaps_rollup(text);
  BOOST_TEST(m.rss == 13712u * 1024);
  BOOST_TEST(m.pss == 2761u * 1024);  // not Pss_Anon
  BOOST_TEST(m.uss == (12u + 1500u) * 1024);
  BOOST_TEST(parse_smaps_rollup("garbage").rss == 0u);
  const MemoryRollup self = read_smaps_rollup(0);
  BOOST_TEST(self.rss > 0u);
  BOOST_TEST(self.uss <= self.rss);
  BOOST_TEST(read_smaps_rollup(0x3ffffff0).rss == 0u);
}

BOOST_AUTO_TEST_CASE(proc_stat_fields_by_number) {
  std::string text = "1234 (a (b) c) Z 1 2 3 4 5 4194316";
  for (int field = 10; field <= 51; ++field) text += " " + std::to_string(field == 48 ? 1000 : field == 49 ? 1040 : 0);
  text += " 2304\n";
  const auto stat = parse_proc_stat(text);
  BOOST_REQUIRE(stat.has_value());
  BOOST_TEST(stat->state == 'Z');
  BOOST_TEST(stat->flags == 4194316u);
  BOOST_TEST(stat->dying());
  BOOST_TEST(stat->arg_start == 1000u);
  BOOST_TEST(stat->arg_end == 1040u);
  BOOST_TEST(stat->exit_code == 2304);
  BOOST_TEST(!parse_proc_stat("garbage").has_value());
  const auto self = read_proc_stat(0);
  BOOST_REQUIRE(self.has_value());
  BOOST_TEST(!self->dying());
  BOOST_TEST(self->arg_start != 0u);
  BOOST_TEST(!read_proc_stat(0x3ffffff0).has_value());
}

namespace {
int peek_none(pid_t) noexcept { return -1; }
int peek_all_dead(pid_t pid) noexcept { return pid == 42 ? (9 << 8) : SIGKILL; }
}  // namespace

BOOST_AUTO_TEST_CASE(zombie_watch_is_bounded_and_counts_what_it_drops) {
  ZombieWatch w;
  w.reset(3);
  BOOST_TEST(w.track(41, peek_none));
  BOOST_TEST(w.track(42, peek_none));
  BOOST_TEST(w.track(43, peek_none));
  BOOST_TEST(!w.track(44, peek_none));
  BOOST_TEST(w.take_dropped() == 1u);
  BOOST_TEST(w.take_dropped() == 0u);
  w.peek_all(peek_all_dead);
  BOOST_TEST(w.take(42) == (9 << 8));
  BOOST_TEST(w.take(42) == -1);  // forgotten
  BOOST_TEST(w.track(44, peek_none));  // the freed entry is reused
  BOOST_TEST(w.take(44) == -1);
  BOOST_TEST(w.tracked() == 2u);
  // A pid tracked again (reused by the kernel) does not keep its old status.
  w.peek_all(peek_all_dead);
  BOOST_TEST(w.track(41, peek_none));
  BOOST_TEST(w.take(41) == -1);
}

BOOST_AUTO_TEST_CASE(zombie_watch_sees_a_real_zombie_without_reaping_it) {
  ZombieWatch w;
  w.reset(4);
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) _exit(7);
  auto peek = [](pid_t pid) noexcept -> int {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid)
      return -1;
    return raw_wait_status(info.si_code, info.si_status);
  };
  w.track(child, peek);
  int raw = -1;
  for (int i = 0; i < 5000 && raw < 0; ++i) {
    w.peek_all(peek);
    raw = w.take(child);
    if (raw < 0) {
      w.track(child, peek);
      usleep(1000);
    }
  }
  BOOST_TEST(decode_wait_status(raw).code == 7);
  int status = 0;
  BOOST_TEST(waitpid(child, &status, 0) == child);  // still there to reap
}

BOOST_AUTO_TEST_SUITE_END()
