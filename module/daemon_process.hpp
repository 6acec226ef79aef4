#pragma once
// The first moments of a daemon process, between apr_proc_fork() in Apache's parent and
// gantry_daemon_main() in mod_gantry_python.so. Everything here happens while the process
// is still free of Python and still privileged, in this order (each step's failure is
// fatal, logged as one line naming the step, the error and the option to change):
//
//   1. back-off sleep when the slot is crash-looping (signals already at their defaults,
//      so a stop during the sleep simply ends it)
//   2. signals back to defaults, mask cleared (Apache's parent had its own handlers)
//   3. descriptors: stdin -> /dev/null; everything else closed except stdout/stderr,
//      the group's listening socket and the error-log files (Apache's listeners, other
//      groups' sockets, access logs opened as root... are not the app's business)
//   4. process title: display-name= into the argv area (ps) and PR_SET_NAME (ps -e, top)
//   5. chroot=, rlimits (memory-limit=, virtual-memory-limit=, cpu-time-limit=),
//      cpu-priority=, umask=
//   6. identity: setgroups (user's groups + supplementary-groups=), setgid, setuid; then
//      refuse to go on as root
//   7. environment (HOME, USER, LOGNAME, LANG=, LC_ALL=, PYTHON_EGG_CACHE=) and chdir(home)
//   8. a standby (daemon_handover.hpp) waits here, still without Python, for its turn
//   9. dlopen(mod_gantry_python.so), call gantry_daemon_main(spec), _exit() with its status
//
// It never returns: nothing of Apache's parent code may run in a daemon process.
#include <httpd.h>

#include "daemon_handover.hpp"
#include "daemon_runtime.hpp"

namespace gantry::module {

// How the supervisor starts this process.
struct DaemonStart {
  unsigned process_index = 0;
  unsigned delay_seconds = 0;     // crash-loop back-off
  std::size_t exit_record = 0;    // status-table record where it notes its own exit
  SlotHandover* handover = nullptr;  // the slot's standby hand-over; null: no standby
  std::atomic<std::uint64_t>* rss = nullptr;  // where to note RSS after each request
  int cell = 0;                   // this process's cell in *handover
  bool standby = false;           // wait for the token before starting Python
};

[[noreturn]] void run_daemon_process(server_rec* s, const GlobalConfig& global,
                                     const DaemonGeneration& generation,
                                     const DaemonGroupRuntime& group,
                                     const DaemonStart& start) noexcept;

}  // namespace gantry::module
