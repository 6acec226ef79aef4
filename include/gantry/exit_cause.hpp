#pragma once
// How a daemon process ended, decoded in one place from whatever the parent could learn:
// the raw wait status (seen on the zombie), the number httpd's MPM passed on (an exit
// status OR a signal number, it does not say which), and the status the process noted
// itself just before _exit(). Apache-free so the supervisor's policy can be unit-tested.
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace gantry {

struct ExitCause {
  enum class Kind : std::uint8_t { none, exited, signaled };
  Kind kind = Kind::none;
  bool core_dumped = false;
  bool killed_by_supervisor = false;  // our SIGKILL after shutdown-timeout, not the kernel's
  int code = 0;            // exit status, or signal number
  pid_t pid = 0;           // the process that ended
  std::int64_t at_us = 0;  // when the parent reaped it (microseconds, the parent's clock)
  std::int64_t lived_us = 0;

  // "exited with status 3 (failed to start ...)", "killed by SIGSEGV (core dumped)",
  // "killed by SIGKILL (possibly the OOM killer)".
  std::string describe() const;
};

// What the parent knows about one death.
struct ExitEvidence {
  bool lost = false;     // reaped by someone else: nothing is known
  int own_exit = -1;     // the status the process noted itself (SlotPage), -1 none
  int raw_status = -1;   // a raw wait status (waitid on the zombie, /proc/PID/stat), -1 none
  int reported = 0;      // what the MPM passed: decoded number, or a raw status if > 0xff
};

// A raw wait status (as waitpid() gives it) -> kind, code, core_dumped.
ExitCause decode_wait_status(int raw);
// The best reading of everything known, most trustworthy first: the process's own note,
// then a raw wait status, then the MPM's number (nonzero without a note: a signal).
ExitCause decode_exit(const ExitEvidence& evidence);
// waitid()'s siginfo fields re-encoded as the raw status waitpid() would have given.
int raw_wait_status(int code, int status);

// "SIGKILL", "SIGSEGV", ... ("signal 42" for others).
std::string signal_name(int signal);

}  // namespace gantry
