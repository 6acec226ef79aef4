#include "process_clone.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "gantry/scoped_fd.hpp"

namespace gantry::module {
namespace {

// Where the kernel writes the new process's tid (null: unknown). Set in the spawner before
// any clone; the template, cloned from it, sees the same address in its own memory.
int* tid_field = nullptr;

}  // namespace

// glibc keeps each thread's kernel id in its thread descriptor; fork() refreshes it in the
// child, a raw clone does not. Found by looking for our own tid in the descriptor and
// keeping the one offset that holds a forked probe's tid in the probe. With it, the kernel
// writes the new tid there (CLONE_CHILD_SETTID) as fork() would. Unknown: only
// pthread_kill() on the new process's first thread from another one would misfire.
void find_tid_field() noexcept {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  auto* base = reinterpret_cast<int*>(pthread_self());
  std::vector<int> candidates;
  try {
    for (int i = 0; i < 512; ++i)
      if (base[i] == tid) candidates.push_back(i);
  } catch (...) {
    return;
  }
  if (candidates.empty()) return;
  ScopedFdPair pipe = make_pipe(O_CLOEXEC);
  if (!pipe) return;
  const pid_t probe = fork();
  if (probe == 0) {
    const pid_t mine = static_cast<pid_t>(syscall(SYS_gettid));
    int found = -1, matches = 0;
    for (int i : candidates)
      if (base[i] == mine) found = i, ++matches;
    if (matches != 1) found = -1;
    (void)!write(pipe.second.get(), &found, sizeof found);
    _exit(0);  // no destructors in the probe
  }
  pipe.second.reset();  // so the read sees EOF if the probe died without writing
  int found = -1;
  if (probe < 0 || read(pipe.first.get(), &found, sizeof found) != sizeof found) found = -1;
  pipe.first.reset();
  if (probe > 0) waitpid(probe, nullptr, 0);
  tid_field = found >= 0 ? base + found : nullptr;
}

pid_t clone_parented() noexcept {
  struct {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args{};
  args.flags = CLONE_PARENT | (tid_field ? CLONE_CHILD_SETTID : 0);
  args.child_tid = reinterpret_cast<std::uint64_t>(tid_field);
  // No exit_signal: with CLONE_PARENT the kernel refuses one and gives the child the
  // caller's own, SIGCHLD (the spawner was forked; a template was cloned from it), which
  // goes to Apache's parent.
  args.exit_signal = 0;
  long pid = syscall(SYS_clone3, &args, sizeof args);
#if defined(__x86_64__)
  if (pid < 0 && errno == ENOSYS)  // clone3 filtered (some seccomp profiles): the old call
    pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD | (tid_field ? CLONE_CHILD_SETTID : 0), nullptr,
                  nullptr, tid_field, 0);
#endif
  return static_cast<pid_t>(pid);
}

}  // namespace gantry::module
