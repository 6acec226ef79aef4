#include "daemon_exit_watch.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "gantry/exit_cause.hpp"
#include "gantry/zombie_watch.hpp"

namespace gantry::module::exit_watch {
namespace {

// httpd's MPM reaps every child of the parent with waitpid(-1) and hands our other-child
// callback only the decoded number. Until the zombie is reaped the kernel still knows the
// raw status, so on every SIGCHLD the parent peeks: waitid(WNOWAIT) on each daemon process
// it forked (or adopted), without reaping it. The handler runs before the MPM loop's next
// waitpid(), so it sees the zombie unless the exit lands inside that very waitpid() call
// (then the MPM's number is used).
ZombieWatch watch;
std::atomic<pid_t> parent{0};  // the process the handler was installed in
// Written only while our handler is not installed (before sigaction installs it), read by
// the handler: no concurrent access.
struct sigaction previous{};
std::atomic<bool> installed{false};

int peek(pid_t pid) noexcept {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid)
    return -1;
  return raw_wait_status(info.si_code, info.si_status);
}

void on_sigchld(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // getpid(), waitid() and lock-free atomics only: async-signal-safe.
  if (getpid() == parent.load(std::memory_order_acquire)) watch.peek_all(peek);
  errno = saved_errno;
  // Whatever was there before keeps working (httpd leaves SIGCHLD at SIG_DFL).
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler) {
    previous.sa_handler(sig);
  }
}

apr_status_t uninstall(void*) {
  // Before the DSO (and this handler's code and table) is unloaded at a restart or stop.
  if (installed.load() && getpid() == parent.load()) sigaction(SIGCHLD, &previous, nullptr);
  installed.store(false);
  return APR_SUCCESS;
}

}  // namespace

void install(apr_pool_t* pconf, std::size_t capacity) {
  if (installed.load()) return;
  struct sigaction current{};
  if (sigaction(SIGCHLD, nullptr, &current) != 0) return;
  // SIG_IGN would mean children are reaped by the kernel: nobody has statuses then.
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN) return;
  watch.reset(capacity);  // before the handler can run
  previous = current;
  parent.store(getpid(), std::memory_order_release);
  struct sigaction ours{};
  ours.sa_sigaction = on_sigchld;
  sigemptyset(&ours.sa_mask);
  // SA_RESTART: the parent's other system calls go on as if nothing happened.
  ours.sa_flags = SA_SIGINFO | SA_RESTART | (current.sa_flags & SA_NOCLDSTOP);
  if (sigaction(SIGCHLD, &ours, nullptr) != 0) return;
  installed.store(true);
  apr_pool_cleanup_register(pconf, nullptr, uninstall, apr_pool_cleanup_null);
}

bool track(pid_t pid) noexcept {
  if (!installed.load()) return true;  // nothing to keep statuses in: not a loss of ours
  return watch.track(pid, peek);
}

int take(pid_t pid) noexcept { return watch.take(pid); }

void leave_child() noexcept {
  if (installed.load() && getpid() != parent.load()) sigaction(SIGCHLD, &previous, nullptr);
}

}  // namespace gantry::module::exit_watch
