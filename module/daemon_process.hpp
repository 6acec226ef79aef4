#pragma once
// The first moments of a daemon process, between the spawner's clone() (daemon_spawner.hpp)
// and gantry_daemon_main() in mod_gantry_python.so. It runs from the launch the parent sent
// for it - this generation's options, identity, Python settings, secret and descriptors -
// never from the spawner's own copy of the first start's configuration. Everything here
// happens while the process is still free of Python and still privileged, in this order
// (each step's failure is fatal, logged as one line naming the step, the error and the
// option to change):
//
//   1. signals back to defaults, mask cleared; the current error log in place of the one
//      the spawner held, this generation's LogLevel; the status table and hand-over page
//      mapped from their descriptors; the option words parsed
//   2. back-off sleep when the slot is crash-looping (a stop during the sleep ends it)
//   3. descriptors: stdin -> /dev/null; everything else closed except stdout/stderr,
//      the group's listening socket, the error log and the Python object
//   4. process title: display-name= into the argv area (ps) and PR_SET_NAME (ps -e, top);
//      a spare shows "(wsgi:GROUP) spare" / "DISPLAY-NAME spare" until it takes over
//   5. chroot=, rlimits (memory-limit=, virtual-memory-limit=, cpu-time-limit=),
//      cpu-priority=, umask=
//   6. identity: setgroups (user's groups + supplementary-groups=), setgid, setuid; then
//      refuse to go on as root
//   7. environment (HOME, USER, LOGNAME, LANG=, LC_ALL=, PYTHON_EGG_CACHE=) and chdir(home)
//   8. a standby (gantry/slot_page.hpp) waits here, still without Python, for its turn
//   9. dlopen(mod_gantry_python.so), call gantry_daemon_main(spec), _exit() with its status
//
// It never returns: nothing of Apache's parent code may run in a daemon process.
#include "daemon_spawner.hpp"
#include "gantry/daemon_api.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry/scoreboard_writer.hpp"
#include "gantry/slot_page.hpp"
#include "gantry/spawn_protocol.hpp"

namespace gantry::module {

[[noreturn]] void run_daemon_process(const spawn::LaunchRequest& launch,
                                     const LaunchDescriptors& fds) noexcept;

// A group's template (docs/template.md), cloned by the spawner: steps 1-7 as above, then
// Python (and with preload=On the application) in template_process.cpp's loop, which forks
// the group's processes.
[[noreturn]] void run_template_process(const spawn::LaunchRequest& launch,
                                       const LaunchDescriptors& fds) noexcept;

// In a process the template just forked for `launch`: Python is up (and, when `preloaded`,
// the preload scripts are in); what is left is this process's own: its status record and
// hand-over cell, title, parent-death signal, the standby's wait, then `entry`.
// `page` is the process's own slot page, which the template mapped (map_launch_page) before
// forking it: the template then holds no descriptor of the other slots' pages while
// application code (a preloaded application's at-fork hooks) can run in it
// (docs/shared-memory.md). `board` likewise: its status scoreboard, attached by the template
// (whose descriptor it closed before forking), or null.
[[noreturn]] void run_forked_daemon(const spawn::LaunchRequest& launch, const LaunchDescriptors& fds,
                                    SlotPage* page, scoreboard::BoardWriter* board, DaemonMain entry,
                                    bool preloaded, pid_t template_pid) noexcept;

// Maps `launch`'s own slot page from the slot pages' memfd and closes the descriptor; null if
// there is none (or it cannot be mapped).
SlotPage* map_launch_page(const spawn::LaunchRequest& launch, ScopedFd pages) noexcept;

}  // namespace gantry::module
