// The daemon's check of who connected (include/gantry/peer_check.hpp): the stat parser
// against names that try to break it, the rule on each kind of process that must fail it,
// identify_peer() on real sockets (both the SO_PEERPIDFD path and the fallback), and the
// refusal log's per-peer and per-window limits.
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>

#include "gantry/peer_check.hpp"

using gantry::identify_peer;
using gantry::parse_proc_stat;
using gantry::PeerProcess;
using gantry::PeerRule;
using gantry::refusal_reason;
using gantry::RefusalLog;

BOOST_AUTO_TEST_SUITE(peer_check)

BOOST_AUTO_TEST_CASE(stat_fields_after_the_last_parenthesis) {
  pid_t ppid = 0, session = 0;
  std::string name;
  BOOST_TEST(parse_proc_stat("812 (apache2) S 800 812 812 0 -1 4194624 ...", ppid, session, name));
  BOOST_TEST(ppid == 800);
  BOOST_TEST(session == 812);
  BOOST_TEST(name == "apache2");
  // A process can name itself anything (prctl PR_SET_NAME): ") S 1 1 1" inside the name
  // must not be taken for the fields, and a newline must not reach the log.
  BOOST_TEST(parse_proc_stat("77 (x) S 1 1 1\n) S 812 5 812 0", ppid, session, name));
  BOOST_TEST(ppid == 812);
  BOOST_TEST(session == 812);
  BOOST_TEST(name == "x) S 1 1 1?");
  BOOST_TEST(!parse_proc_stat("", ppid, session, name));
  BOOST_TEST(!parse_proc_stat("77 (x) S 1", ppid, session, name));
  BOOST_TEST(!parse_proc_stat("77 (x) S one 2 3", ppid, session, name));
}

PeerProcess apache_child() {
  PeerProcess p;
  p.pid = 900;
  p.uid = 33;
  p.ppid = 812;
  p.session = 812;
  return p;
}

const PeerRule rule{812, 812, 33};

BOOST_AUTO_TEST_CASE(only_an_apache_child_passes) {
  BOOST_TEST(refusal_reason(apache_child(), rule).empty());

  PeerProcess parent = apache_child();  // httpd -X: the parent serves requests itself
  parent.pid = 812;
  parent.ppid = 1;
  BOOST_TEST(refusal_reason(parent, rule).empty());

  PeerProcess daemon = apache_child();  // a daemon process: same parent, own session
  daemon.session = 950;
  BOOST_TEST(refusal_reason(daemon, rule).find("session 950") != std::string::npos);

  PeerProcess forked = apache_child();  // os.fork() in an application, or a CGI
  forked.ppid = 950;
  BOOST_TEST(refusal_reason(forked, rule).find("parent is pid 950") != std::string::npos);

  PeerProcess root = apache_child();  // root ignores the socket's mode
  root.uid = 0;
  BOOST_TEST(refusal_reason(root, rule).find("uid 0") != std::string::npos);

  PeerProcess gone = apache_child();
  gone.alive = false;
  BOOST_TEST(refusal_reason(gone, rule).find("exited") != std::string::npos);

  // /proc hidden (hidepid=): only the uid is known, and checked.
  PeerProcess hidden;
  hidden.pid = 901;
  hidden.uid = 33;
  hidden.hidden = true;
  BOOST_TEST(refusal_reason(hidden, rule) == "");
  hidden.uid = 65534;
  BOOST_TEST(refusal_reason(hidden, rule).find("uid 65534") != std::string::npos);

  PeerProcess unknown = apache_child();
  unknown.error = "cannot read /proc/900/stat";
  BOOST_TEST(refusal_reason(unknown, rule) == "cannot read /proc/900/stat");
}

// A connected pair inside this process, then one whose far end is a forked child.
BOOST_AUTO_TEST_CASE(identifies_the_process_at_the_other_end) {
  for (bool peer_pidfd : {true, false}) {
    int pair[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    const PeerProcess self = identify_peer(pair[0], peer_pidfd);
    BOOST_TEST(self.error == "");
    BOOST_TEST(self.alive);
    BOOST_TEST(self.pid == getpid());
    BOOST_TEST(self.uid == getuid());
    BOOST_TEST(self.ppid == getppid());
    BOOST_TEST(self.session == getsid(0));
    const PeerRule mine{getppid(), getsid(0), getuid()};
    BOOST_TEST(refusal_reason(self, mine) == "");
    close(pair[0]);
    close(pair[1]);
  }
  // A listening socket: the credentials are the connecting child's, taken at connect().
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string name = "gantry-peer-test-" + std::to_string(getpid());
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: nothing on disk
  const socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  BOOST_REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0);
  BOOST_REQUIRE(listen(listener, 4) == 0);
  int go[2];
  BOOST_REQUIRE(pipe(go) == 0);
  const pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&address), length) != 0) _exit(1);
    char byte;
    (void)!read(go[0], &byte, 1);  // stays alive until the parent has looked
    _exit(0);
  }
  close(go[0]);
  const int accepted = accept(listener, nullptr, nullptr);
  BOOST_REQUIRE(accepted >= 0);
  for (bool peer_pidfd : {true, false}) {
    const PeerProcess p = identify_peer(accepted, peer_pidfd);
    BOOST_TEST(p.pid == child);
    BOOST_TEST(p.ppid == getpid());
    BOOST_TEST(p.alive);
    // This process is not the child's Apache: refused for its parent.
    BOOST_TEST(refusal_reason(p, rule).find("parent is pid " + std::to_string(getpid())) != std::string::npos);
  }
  close(go[1]);  // the child exits
  waitpid(child, nullptr, 0);
  // Gone (and reaped): never taken for whoever gets its pid next.
  const PeerProcess after = identify_peer(accepted, true);
  BOOST_TEST(!after.alive);
  BOOST_TEST(refusal_reason(after, rule).find("exited") != std::string::npos);
  close(accepted);
  close(listener);
}

BOOST_AUTO_TEST_CASE(refusals_are_logged_once_per_peer_and_rate_limited) {
  using namespace std::chrono_literals;
  RefusalLog log(3, 60s, 4);
  auto t = RefusalLog::Clock::time_point{} + 1000s;
  BOOST_TEST(log.note(100, t).log);
  BOOST_TEST(!log.note(100, t).log);  // the same peer again: once is enough
  BOOST_TEST(!log.note(100, t + 1s).log);
  const auto second = log.note(101, t + 2s);
  BOOST_TEST(second.log);
  BOOST_TEST(second.suppressed == 2u);  // the two repeats of 100, said with the next line
  const auto third = log.note(102, t + 3s);
  BOOST_TEST(third.log);
  BOOST_TEST(third.suppressed == 0u);
  // A fourth peer within the window: over the burst, counted, not logged.
  BOOST_TEST(!log.note(103, t + 4s).log);
  for (int pid = 200; pid < 1200; ++pid) BOOST_TEST(!log.note(pid, t + 5s).log);
  // The next window logs again and says how many were left out.
  const auto later = log.note(104, t + 70s);
  BOOST_TEST(later.log);
  BOOST_TEST(later.suppressed == 1001u);
  // Only the last `remembered` peers are remembered: an old one may be logged again.
  BOOST_TEST(log.note(105, t + 71s).log);
  BOOST_TEST(log.note(106, t + 72s).log);
  BOOST_TEST(!log.note(107, t + 73s).log);  // burst of 3 used in this window
  BOOST_TEST(log.note(100, t + 140s).log);  // 100 fell out of the ring of 4
}

BOOST_AUTO_TEST_SUITE_END()
