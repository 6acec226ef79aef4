#pragma once
// /proc/PID/stat, read in one place: the fields Gantry uses, by their number in proc(5).
#include <sys/types.h>

#include <optional>
#include <string_view>

namespace gantry {

struct ProcStat {
  char state = '?';             // field 3: R, S, D, Z (zombie), X (dead) ...
  unsigned long flags = 0;      // field 9: PF_* (PF_EXITING = 0x4)
  unsigned long arg_start = 0;  // field 48 (Linux >= 3.5; 0 when not permitted)
  unsigned long arg_end = 0;    // field 49
  int exit_code = -1;           // field 52: raw wait status of a zombie (Linux >= 3.5), else -1

  static constexpr unsigned long kPfExiting = 0x4;
  // Dying or dead but not yet reaped: a zombie, or still inside exit.
  bool dying() const { return state == 'Z' || state == 'X' || (flags & kPfExiting); }
};

// Parses the text of a stat file (the command name may hold spaces and parentheses).
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// Reads /proc/PID/stat (pid 0: /proc/self/stat); nullopt if the process is gone.
std::optional<ProcStat> read_proc_stat(pid_t pid);

}  // namespace gantry
