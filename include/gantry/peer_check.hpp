#pragma once
// Who is on the other end of a connection to a daemon group's socket, and whether that
// process may talk to the group: only an Apache child of this server may (docs/security.md).
//
//   PeerProcess peer = identify_peer(fd);               // SO_PEERCRED + /proc/PID/stat
//   if (std::string why = refusal_reason(peer, rule); !why.empty())
//     ... close(fd), and log `why` if refusals.should_log(peer.pid, now) says so
//
// THE RULE. An Apache child is a process whose parent is Apache's parent, that runs in
// Apache's session, as the user that owns the socket (Apache's User, or socket-user=).
// The processes that could otherwise pass are told apart like this:
//   - Daemon processes are children of Apache's parent too (the spawner clones them with
//     CLONE_PARENT) and may run as Apache's User (user= unset). Each one calls setsid()
//     before any application code runs (module/daemon_process.cpp), and a process can never
//     move into another session (setsid() only creates a new one; setpgid() only joins a
//     group of its own session), so a daemon process, and every process it forks, stays
//     outside Apache's session for good. That is the unforgeable mark: no table of daemon
//     pids to keep in step, and nothing a daemon can write to change it.
//   - Anything a daemon or an Apache child forks (os.fork(), CGI, subprocess) has another
//     parent; a process that re-parents (double fork) gets init or a subreaper as parent.
//   - Foreign processes of Apache's User, or root (which ignores the socket's 0600 mode),
//     are neither children of Apache's parent nor, for root, of the socket owner's uid.
// What passes besides the MPM's children: Apache's parent itself (it serves requests in
// single-process mode, httpd -X), and other children it forks in its session as User
// (mod_cgid's daemon): all of them run Apache's code, not applications.
//
// PID REUSE. SO_PEERCRED names the pid the peer had when it connected; by the time the
// daemon reads /proc/PID/stat that process may be gone and the number reused. With
// SO_PEERPIDFD (Linux 6.5) the kernel hands over a pidfd for the very process that
// connected: the stat read is believed only if that process is still alive after the read
// (a pid is never reused while its process exists, zombies included). On older kernels the
// pidfd is opened from the pid (pidfd_open, Linux 5.3), which pins whichever process holds
// the number at that moment: a peer that exits between its connect() and the check, whose
// pid an Apache child of this server then takes, would pass. That is a narrow race no peer
// can aim (it cannot choose the next child's pid), and the peer would still need the
// group's secret for the HELLO that follows, so the guarantee between groups never rests
// on it. A peer found dead is refused (an Apache child waits for its answer).
//
// HIDEPID. With /proc mounted hidepid=1/2 a daemon that runs as another user than Apache's
// children cannot read their stat: then only the uid is checked (the kernel's SO_PEERCRED
// still names it). A daemon that runs as Apache's User sees Apache's children and its own
// group's processes alike, so the full rule holds exactly where it matters most.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gantry {

// What a daemon process expects of its peers; filled in before the application runs.
struct PeerRule {
  pid_t apache_parent = 0;   // Apache's parent: the peer's parent pid
  pid_t apache_session = 0;  // its session (daemons left it with setsid())
  uid_t uid = 0;             // the socket's owner: Apache's User or socket-user=
};

struct PeerProcess {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t ppid = -1;
  pid_t session = -1;
  std::string name;   // /proc/PID/stat's comm, non-printable bytes as '?' (for the log)
  bool alive = true;  // still the same process after its stat was read
  // /proc hides it (mounted with hidepid=: a user sees only its own processes), so only
  // its uid is known. Such a peer runs as another user than this daemon.
  bool hidden = false;
  std::string error;  // non-empty: the peer could not be identified (say why)
};

// The parts of /proc/PID/stat the rule needs. The name (field 2) is in parentheses and may
// itself hold spaces and ')', so the fields after it are found from the last ')'.
// False if `text` is not a stat line.
bool parse_proc_stat(std::string_view text, pid_t& ppid, pid_t& session, std::string& name);

// Reads the peer of the connected AF_UNIX socket `fd`. `use_peer_pidfd` false skips
// SO_PEERPIDFD (to test the fallback for kernels before 6.5).
PeerProcess identify_peer(int fd, bool use_peer_pidfd = true);

// "" if `peer` may talk to the group, else why not, for the log ("its parent is pid 1, not
// Apache's parent 812", ...).
std::string refusal_reason(const PeerProcess& peer, const PeerRule& rule);

// Which refusals to log: each peer pid once (within the last `remembered` distinct peers),
// and at most `burst` lines per `window` in all, so a tenant that connects from many
// processes cannot flood the log. Thread-safe.
class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RefusalLog(std::size_t burst = 10, std::chrono::seconds window = std::chrono::seconds(60),
                      std::size_t remembered = 256)
      : burst_(burst), window_(window), remembered_(remembered) {}

  struct Decision {
    bool log = false;
    std::uint64_t suppressed = 0;  // refusals not logged since the last line that was
  };
  Decision note(pid_t pid, Clock::time_point now);

 private:
  std::size_t burst_;
  std::chrono::seconds window_;
  std::size_t remembered_;
  std::mutex mutex_;
  std::vector<pid_t> seen_;  // ring of the last `remembered_` peers logged
  std::size_t next_ = 0;
  Clock::time_point window_start_{};
  std::size_t lines_in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace gantry
