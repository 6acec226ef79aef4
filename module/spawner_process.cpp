#include "spawner_process.hpp"

#include <ap_listen.h>
#include <apr_portable.h>
#include <http_core.h>
#include <http_main.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "build_id.hpp"
#include "daemon_process.hpp"
#include "launch_gate.hpp"
#include "launch_receiver.hpp"
#include "process_clone.hpp"
#include "template_process.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry/spawn_protocol.hpp"
#include "process_title.hpp"
#include "python_loader.hpp"

namespace gantry::module {
namespace {

// Leaves 0, 1, 2, the socket and the error log's number (held by /dev/null, so a launch's
// descriptors never land on it and a daemon can put the current log there).
void close_inherited(int sock, int reserved) {
  ap_close_listeners();
  drop_python_object();
  ScopedFd null_fd(open("/dev/null", O_RDWR));
  if (null_fd) {
    // Where /dev/null cannot be put (dup2 fails), the descriptor is closed instead: what
    // was there (Apache's log, a terminal) must not reach a daemon either way.
    const auto put_null = [&](int target) {
      if (target != null_fd.get() && dup2(null_fd.get(), target) < 0) close(target);
    };
    put_null(0);
    put_null(2);  // the spawner reports through its replies and its exit status
    if (reserved > 2) put_null(reserved);
    // Opened onto one of the numbers it was to fill: it stays there.
    if (null_fd.get() <= 2 || null_fd.get() == reserved) (void)null_fd.release();
  }
  // Whatever else the parent had open is closed by number: nothing in this process owns
  // it (the parent's objects never run their destructors here).
  std::vector<int> doomed;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int dir_fd = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      const long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || fd == dir_fd) continue;
      if (fd > 2 && fd != sock && fd != reserved) doomed.push_back(static_cast<int>(fd));
    }
    closedir(dir);
  }
  for (const int fd : doomed) close(fd);
}

void spawner_signals() {
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  // Apache signals its whole process group on restarts (prefork: SIGHUP, SIGUSR1) and on
  // graceful-stop (SIGWINCH): the spawner lives on. SIGTERM (stop) ends it.
  for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGPIPE, SIGINT}) signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

int error_log_fd() {
  apr_os_file_t fd = -1;
  if (!ap_server_conf || !ap_server_conf->error_log || apr_os_file_get(&fd, ap_server_conf->error_log) != APR_SUCCESS)
    return -1;
  return fd;
}

// One launch: receive, check, clone, reply. Returns in the spawner only.
void serve_one(int sock, pid_t parent, std::vector<char>& buffer) {
  ReceivedLaunch got = receive_launch(sock, parent, buffer, nullptr);
  switch (got.result) {
    case ReceivedLaunch::Result::closed: _exit(0);  // the parent closed its end: it is gone
    case ReceivedLaunch::Result::failed: _exit(121);
    case ReceivedLaunch::Result::launch: break;
    default: return;  // interrupted, or refused (answered)
  }
  // The parent's main loop is blocked until the reply: the new process, which has a lot to
  // do, waits at this gate until the reply is sent, so it cannot take the CPU from the
  // spawner first (measured on 2 busy cores: the reply otherwise waited milliseconds).
  LaunchGate gate;
  const pid_t pid = clone_parented();
  if (pid == 0) {
    close(sock);  // the spawner's socket, a plain int it holds for life: not the child's
    gate.pass();
    if (got.request.role == spawn::LaunchRole::template_) run_template_process(got.request, got.fds);
    run_daemon_process(got.request, got.fds);  // never returns
  }
  const int error = pid < 0 ? errno : 0;
  send_launch_reply(sock, pid > 0 ? spawn::SpawnStatus::started : spawn::SpawnStatus::clone_failed,
                    pid > 0 ? pid : 0, error);
  gate.open();
  // Nothing of this group's stays in the spawner for the next group's processes to inherit
  // (the next launch is only read after this).
  forget_launch(got, buffer);
}

}  // namespace

[[noreturn]] void run_spawner(int sock, pid_t parent) noexcept {
  // Dies with Apache's parent (kill -9, a crash), whatever it was doing.
  // Refused (it never is for a valid signal): the spawner would outlive a crashed parent,
  // so it does not start; the parent logs that its spawner ended.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(1);
  if (getppid() != parent) _exit(0);
  spawner_signals();
  set_process_title(kSpawnerTitle);
  close_inherited(sock, error_log_fd());
  find_tid_field();
  try {
    std::vector<char> buffer(spawn::kMaxLaunch + 1);
    for (;;) serve_one(sock, parent, buffer);
  } catch (...) {
    _exit(122);  // out of memory: the parent sees it die and starts another
  }
}


}  // namespace gantry::module
