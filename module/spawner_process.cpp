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
#include "gantry/spawn_protocol.hpp"
#include "process_title.hpp"
#include "python_loader.hpp"

namespace gantry::module {
namespace {

// glibc keeps each thread's kernel id in its thread descriptor; fork() refreshes it in the
// child, a raw clone does not. Found once, by looking for our own tid in the descriptor
// and keeping the one offset that holds a forked probe's tid in the probe. With it, the
// kernel writes the new tid there (CLONE_CHILD_SETTID) as fork() would. nullptr: unknown
// (then only pthread_kill() on the daemon's first thread from another one would misfire).
int* find_tid_field() {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  auto* base = reinterpret_cast<int*>(pthread_self());
  std::vector<int> candidates;
  for (int i = 0; i < 512; ++i)
    if (base[i] == tid) candidates.push_back(i);
  if (candidates.empty()) return nullptr;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return nullptr;
  const pid_t probe = fork();
  if (probe == 0) {
    const pid_t mine = static_cast<pid_t>(syscall(SYS_gettid));
    int found = -1, matches = 0;
    for (int i : candidates)
      if (base[i] == mine) found = i, ++matches;
    if (matches != 1) found = -1;
    (void)!write(pipe_fds[1], &found, sizeof found);
    _exit(0);
  }
  close(pipe_fds[1]);
  int found = -1;
  if (probe < 0 || read(pipe_fds[0], &found, sizeof found) != sizeof found) found = -1;
  close(pipe_fds[0]);
  if (probe > 0) waitpid(probe, nullptr, 0);
  return found >= 0 ? base + found : nullptr;
}

// clone(CLONE_PARENT): a fork whose parent is the spawner's parent, Apache's. Raw system
// call: glibc has no fork() with flags. Returns as fork() does.
pid_t clone_parented(int* tid_field) {
  struct {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args{};
  args.flags = CLONE_PARENT | (tid_field ? CLONE_CHILD_SETTID : 0);
  args.child_tid = reinterpret_cast<std::uint64_t>(tid_field);
  // No exit_signal: with CLONE_PARENT the kernel refuses one and gives the child the
  // spawner's own, SIGCHLD (it was forked), delivered to Apache's parent.
  args.exit_signal = 0;
  long pid = syscall(SYS_clone3, &args, sizeof args);
#if defined(__x86_64__)
  if (pid < 0 && errno == ENOSYS)  // clone3 filtered (some seccomp profiles): the old call
    pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD | (tid_field ? CLONE_CHILD_SETTID : 0), nullptr,
                  nullptr, tid_field, 0);
#endif
  return static_cast<pid_t>(pid);
}

void send_reply(int sock, spawn::SpawnStatus status, pid_t pid, int error) {
  const auto bytes = spawn::encode_reply({status, pid, error});
  // Never blocks in practice (16 bytes, a reader waiting); a parent that is gone: EPIPE.
  (void)!send(sock, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

// Leaves 0, 1, 2, the socket and the error log's number (held by /dev/null, so a launch's
// descriptors never land on it and a daemon can put the current log there).
void close_inherited(int sock, int reserved) {
  ap_close_listeners();
  drop_python_object();
  const int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    // Where /dev/null cannot be put (dup2 fails), the descriptor is closed instead: what
    // was there (Apache's log, a terminal) must not reach a daemon either way.
    const auto put_null = [&](int target) {
      if (target != null_fd && dup2(null_fd, target) < 0) close(target);
    };
    put_null(0);
    put_null(2);  // the spawner reports through its replies and its exit status
    if (reserved > 2) put_null(reserved);
    if (null_fd > 2 && null_fd != reserved && null_fd != sock) close(null_fd);
  }
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
  close_all(doomed);
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
void serve_one(int sock, pid_t parent, int* tid_field, std::vector<char>& buffer) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * spawn::kMaxDescriptors) + CMSG_SPACE(sizeof(ucred))];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n == 0) _exit(0);  // the parent closed its end: it is gone
  if (n < 0) {
    if (errno == EINTR) return;
    _exit(121);
  }
  std::vector<int> fds;
  bool from_parent = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      from_parent = cred.pid == parent;  // the kernel vouches for the sender's pid
    }
  }
  // Only Apache's parent may ask (an Apache child that kept the socket would be asking a
  // root process to start code as any user).
  if (!from_parent || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    close_all(fds);
    send_reply(sock, spawn::SpawnStatus::malformed, 0, EPERM);
    return;
  }
  spawn::LaunchRequest request;
  // Refuses the launch; nothing of it stays in the spawner.
  auto refuse = [&](spawn::SpawnStatus status, int error) {
    close_all(fds);
    explicit_bzero(buffer.data(), static_cast<std::size_t>(n));
    explicit_bzero(request.secret.data(), request.secret.size());
    send_reply(sock, status, 0, error);
  };
  try {
    request = spawn::decode_launch(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  } catch (const protocol::ProtocolError& e) {
    return refuse(e.kind() == protocol::ProtocolError::Kind::bad_version ? spawn::SpawnStatus::bad_version
                                                                          : spawn::SpawnStatus::malformed,
                  EINVAL);
  }
  // A launch from a parent that loaded another build of this module (a graceful restart
  // after an upgrade): this code must not start its daemons (docs/spawner.md).
  static const std::string own_build = this_build_id();
  if (request.build != own_build) return refuse(spawn::SpawnStatus::bad_version, 0);
  if (fds.size() != request.descriptor_count()) return refuse(spawn::SpawnStatus::descriptors, EINVAL);
  LaunchDescriptors d;
  std::size_t next = 0;
  auto take = [&](std::uint8_t bit) { return (request.descriptors & bit) ? fds[next++] : -1; };
  d.listen = take(spawn::kFdListen);
  d.table = take(spawn::kFdTable);
  d.handover = take(spawn::kFdHandover);
  d.error_log = take(spawn::kFdErrorLog);
  d.python_object = take(spawn::kFdPythonObject);

  // The parent's main loop is blocked until the reply: the new process, which has a lot to
  // do, waits at this gate until the reply is sent, so it cannot take the CPU from the
  // spawner first (measured on 2 busy cores: the reply otherwise waited milliseconds).
  int gate[2] = {-1, -1};
  if (pipe2(gate, O_CLOEXEC) != 0) gate[0] = gate[1] = -1;
  const pid_t pid = clone_parented(tid_field);
  if (pid == 0) {
    close(sock);
    if (gate[1] >= 0) close(gate[1]);
    char byte;
    while (gate[0] >= 0 && read(gate[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (gate[0] >= 0) close(gate[0]);
    run_daemon_process(request, d);  // never returns
  }
  const int error = pid < 0 ? errno : 0;
  send_reply(sock, pid > 0 ? spawn::SpawnStatus::started : spawn::SpawnStatus::clone_failed,
             pid > 0 ? pid : 0, error);
  for (int fd : gate)
    if (fd >= 0) close(fd);  // opens the gate (EOF)
  // Nothing of this group's stays in the spawner for the next group's daemons to inherit
  // (the next launch is only read after this).
  close_all(fds);
  explicit_bzero(buffer.data(), static_cast<std::size_t>(n));
  explicit_bzero(request.secret.data(), request.secret.size());
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
  int* tid_field = find_tid_field();
  try {
    std::vector<char> buffer(spawn::kMaxLaunch + 1);
    for (;;) serve_one(sock, parent, tid_field, buffer);
  } catch (...) {
    _exit(122);  // out of memory: the parent sees it die and starts another
  }
}


}  // namespace gantry::module
