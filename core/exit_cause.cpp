#include "gantry/exit_cause.hpp"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

#include "gantry/daemon_api.hpp"

namespace gantry {

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

ExitCause decode_wait_status(int raw) {
  ExitCause cause;
  if (WIFEXITED(raw)) {
    cause.kind = ExitCause::Kind::exited;
    cause.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    cause.kind = ExitCause::Kind::signaled;
    cause.code = WTERMSIG(raw);
    cause.core_dumped = WCOREDUMP(raw);
  }
  return cause;
}

int raw_wait_status(int code, int status) {
  return code == CLD_EXITED ? (status & 0xff) << 8
                            : (status & 0x7f) | (code == CLD_DUMPED ? 0x80 : 0);
}

ExitCause decode_exit(const ExitEvidence& e) {
  ExitCause cause;
  if (e.lost) return cause;
  if (e.own_exit >= 0) {
    cause.kind = ExitCause::Kind::exited;
    cause.code = e.own_exit;
    return cause;
  }
  if (e.raw_status >= 0) return decode_wait_status(e.raw_status);
  if (e.reported > 0xff) return decode_wait_status(e.reported);  // APR's own refresh: raw
  if (e.reported == 0) {
    cause.kind = ExitCause::Kind::exited;
    return cause;
  }
  // No exit noted by the process itself: it did not leave through Gantry's exit path, so
  // it was killed. (Decoded numbers with the core bit land at 129..191.)
  cause.kind = ExitCause::Kind::signaled;
  cause.code = e.reported & 0x7f;
  cause.core_dumped = (e.reported & 0x80) != 0;
  return cause;
}

}  // namespace gantry
