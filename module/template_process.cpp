#include "template_process.hpp"

#include <httpd.h>
#include <http_log.h>
#include <http_main.h>

#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "daemon_process.hpp"
#include "gantry/scoreboard_writer.hpp"
#include "launch_gate.hpp"
#include "launch_receiver.hpp"
#include "process_clone.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kStartupFailed = static_cast<int>(DaemonExit::startup_failed);

const std::string* own_group = nullptr;  // what check_launch compares with

// A template forks daemon processes of its own group, nothing else.
spawn::SpawnStatus check_launch(const spawn::LaunchRequest& request) {
  if (request.role != spawn::LaunchRole::daemon || !own_group || request.group != *own_group)
    return spawn::SpawnStatus::malformed;
  return spawn::SpawnStatus::started;
}

// Threads of this process (a fork keeps only the calling one: another thread's locks, held
// at that moment, stay held forever in the child).
int thread_count() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++count;
    closedir(dir);
  }
  return count;
}

int clone_for_python(void*) { return clone_parented(); }

// Apache signals its whole process group on restarts (prefork: SIGHUP, SIGUSR1) and on
// graceful-stop (SIGWINCH): the template outlives none of its generation's decisions on its
// own - the parent closes its socket (EOF) or sends SIGTERM. Its children reset all of these.
void template_signals() {
  for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGPIPE, SIGINT}) signal(sig, SIG_IGN);
}

// preload=On: the group's preload scripts run here, once. Only those of the main
// interpreter (%{GLOBAL}): Python 3.11 cannot fork a process that created sub-interpreters
// (see GANTRY0125); the others are imported by each process, as without preload.
void preload_scripts(const TemplateSetup& t) {
  const auto began = std::chrono::steady_clock::now();
  unsigned loaded = 0;
  for (const PreloadScript& script : t.spec.preload) {
    if (!script.application_group.empty()) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                   "GANTRY0667: daemon group '%s' (preload=On): %s is imported by each process,"
                   " not by the template: its application group '%s' is a sub-interpreter, which"
                   " Python cannot carry across fork; use application-group=%%{GLOBAL} to share it",
                   t.group.c_str(), script.script_path.c_str(), script.application_group.c_str());
      continue;
    }
    ScriptTarget target{script.script_path, script.application_group, script.callable, false};
    if (t.api.import_script(target)) ++loaded;  // a failure is logged; requests retry it
  }
  const std::size_t frozen = t.api.freeze_heap();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
               "GANTRY0665: the template of daemon group '%s' (pid %ld) preloaded %u script(s)"
               " in %ld ms and froze %lu objects (gc.freeze); its processes share them",
               t.group.c_str(), static_cast<long>(getpid()), loaded, static_cast<long>(ms.count()),
               static_cast<unsigned long>(frozen));
}

// One LAUNCH: fork, answer. Returns in the template only.
void serve_one(const TemplateSetup& t, pid_t parent, std::vector<char>& buffer, bool& warned) {
  ReceivedLaunch got = receive_launch(t.control, parent, buffer, &check_launch);
  switch (got.result) {
    case ReceivedLaunch::Result::closed: _exit(0);  // the generation that owns us ended
    case ReceivedLaunch::Result::failed: _exit(121);
    case ReceivedLaunch::Result::launch: break;
    default: return;
  }
  if (const int threads = thread_count(); threads > 1 && !warned) {
    warned = true;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 "GANTRY0663: the template of daemon group '%s' (pid %ld) runs %d threads when"
                 " forking; only the forking one exists in the new process, and locks the others"
                 " held stay locked there - a preloaded script must not start threads at import"
                 " (start them per process: see docs/template.md)",
                 t.group.c_str(), static_cast<long>(getpid()), threads);
  }
  // The new process's own slot page is mapped here and the pages' descriptor closed before
  // the fork: Python's at-fork hooks (a preloaded application's code) run in this process,
  // which must then hold nothing that reaches other slots' pages (docs/shared-memory.md).
  // The child inherits the mapping (MAP_SHARED); this process drops it after the fork.
  SlotPage* page = nullptr;
  if (got.fds.handover >= 0) {
    page = map_launch_page(got.request, got.take(got.fds.handover));  // closes it
    got.fds.handover = -1;
  }
  // Its status scoreboard too: each process writes its own board only (issue 12), and the
  // template keeps no writable descriptor of one while application code can run here.
  scoreboard::BoardWriter* board = nullptr;
  if (got.fds.scoreboard >= 0) {
    const ScopedFd board_fd = got.take(got.fds.scoreboard);  // closed once mapped
    board = scoreboard::BoardWriter::attach(board_fd.get());
    got.fds.scoreboard = -1;
  }
  LaunchGate gate;
  const pid_t self = getpid();
  const pid_t pid = t.api.fork_process(&clone_for_python, nullptr);
  if (pid == 0) {
    close(t.control);  // the template's socket, a plain int it holds for life: not the child's
    gate.pass();
    run_forked_daemon(got.request, got.fds, page, board, t.entry, t.preload, self);  // never returns
  }
  if (page) munmap(page, SlotPages::stride());
  scoreboard::BoardWriter::detach(board);
  const int error = pid < 0 ? errno : 0;
  send_launch_reply(t.control, pid > 0 ? spawn::SpawnStatus::started : spawn::SpawnStatus::clone_failed,
                    pid > 0 ? pid : 0, error);
  gate.open();
  forget_launch(got, buffer);
}

}  // namespace

void serve_template(const TemplateSetup& t) noexcept {
  try {
    template_signals();
    own_group = &t.group;
    // Cloned with CLONE_PARENT by the spawner: our parent is Apache's, the only sender.
    const pid_t parent = getppid();
    if (!t.api.initialize(t.spec.python)) {
      ap_log_error(APLOG_MARK, APLOG_ALERT, 0, ap_server_conf,
                   "GANTRY0202: the template of daemon group '%s' (pid %ld) could not start"
                   " Python; see the preceding lines, and check python-home= and python-path="
                   " of WSGIDaemonProcess %s",
                   t.group.c_str(), static_cast<long>(getpid()), t.group.c_str());
      _exit(kStartupFailed);
    }
    // Python's start-up objects (and with preload=On the application's) are never garbage:
    // frozen, the collector in each process does not touch - and so copy - their pages.
    if (t.preload) preload_scripts(t);
    else t.api.freeze_heap();
    // What start-up and the imports freed goes back to the kernel now: pages that would
    // otherwise stay in the template, shared with every process and copied by whichever
    // reuses them first (bench/results/template.md has the figures).
    malloc_trim(0);
    std::vector<char> buffer(spawn::kMaxLaunch + 1);
    send_launch_reply(t.control, spawn::SpawnStatus::ready, getpid(), 0);
    bool warned = false;
    for (;;) serve_one(t, parent, buffer, warned);
  } catch (...) {
    _exit(122);  // out of memory: the parent sees it die and starts another
  }
}

}  // namespace gantry::module
