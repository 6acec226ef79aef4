#include "daemon_spawner.hpp"

#include <ap_listen.h>
#include <ap_mpm.h>
#include <apr_thread_proc.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "apache_log.hpp"
#include "build_id.hpp"
#include "daemon_process.hpp"
#include "daemon_table.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"
#include "process_title.hpp"
#include "python_loader.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr const char* kTitle = "(gantry-spawner)";
constexpr int kReplyTimeoutMs = 5000;  // a launch is a clone() and a reply: microseconds

// ---- State that outlives a generation --------------------------------------------------

struct SpawnerState {
  pid_t pid;        // 0: none running
  int fd;           // the parent's end of the socketpair
  pid_t parent;     // Apache's parent (the only process that talks to it)
  int tainted;      // forked while Python ran in the parent
  unsigned started; // spawners forked so far
};

SpawnerState& state(server_rec* s) {
  static const std::string key = "gantry-daemon-spawner-" + std::to_string(sizeof(SpawnerState));
  apr_pool_t* pool = s->process->pool;
  void* data = nullptr;
  apr_pool_userdata_get(&data, key.c_str(), pool);
  if (!data) {
    auto* fresh = static_cast<SpawnerState*>(apr_pcalloc(pool, sizeof(SpawnerState)));
    fresh->fd = -1;
    data = fresh;
    apr_pool_userdata_set(data, key.c_str(), nullptr, pool);  // copies the key: see retirement()
  }
  return *static_cast<SpawnerState*>(data);
}

// This DSO load's view (statics reset when Apache reloads the module).
apr_pool_t* current_pconf = nullptr;
server_rec* current_server = nullptr;
int child_fd = -1;  // what child_init closes

bool mpm_stopping() {
  int mpm_state = AP_MPMQ_RUNNING;
  return ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS && mpm_state == AP_MPMQ_STOPPING;
}

// ---- The spawner process -----------------------------------------------------------------

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
    dup2(null_fd, 0);
    dup2(null_fd, 2);  // the spawner reports through its replies and its exit status
    if (reserved > 2) dup2(null_fd, reserved);
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

[[noreturn]] void run_spawner(int sock, pid_t parent) noexcept {
  // Dies with Apache's parent (kill -9, a crash), whatever it was doing.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  spawner_signals();
  set_process_title(kTitle);
  close_inherited(sock, error_log_fd());
  int* tid_field = find_tid_field();
  try {
    std::vector<char> buffer(spawn::kMaxLaunch + 1);
    for (;;) serve_one(sock, parent, tid_field, buffer);
  } catch (...) {
    _exit(122);  // out of memory: the parent sees it die and starts another
  }
}

// ---- Apache's parent ---------------------------------------------------------------------

void watch(SpawnerState& st);

std::string describe_status(int status) {
  // What the MPM passes: 0, an exit status the spawner chose (>= 100), or a signal number.
  if (status == 0) return "exited";
  if (status > 0 && status < 65) return "was killed by " + signal_name(status);
  return "exited with status " + std::to_string(status);
}

void forget(SpawnerState& st, bool kill_it) {
  if (st.pid > 0 && kill_it) kill(st.pid, SIGKILL);  // its death is then not news
  if (st.fd >= 0) close(st.fd);
  st.fd = -1;
  st.pid = 0;
  child_fd = -1;
}

bool start_spawner(server_rec* s, SpawnerState& st) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s,
                 "GANTRY0085: cannot start the daemon spawner: socketpair() failed; no daemon"
                 " process can start - check the descriptor limit (ulimit -n)");
    return false;
  }
  const int on = 1;
  setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    close(pair[0]);
    run_spawner(pair[1], parent);
  }
  close(pair[1]);
  if (pid < 0) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s,
                 "GANTRY0085: cannot start the daemon spawner: fork() failed; no daemon process"
                 " can start - check the process limit (ulimit -u, systemd TasksMax) and memory");
    close(pair[0]);
    return false;
  }
  st.pid = pid;
  st.fd = pair[0];
  st.parent = parent;
  child_fd = st.fd;
  ++st.started;
  st.tainted = python_runtime().initialized ? 1 : 0;
  if (st.tainted)
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "GANTRY0082: the daemon spawner (pid %ld) had to be started again from Apache's"
                 " parent, which runs Python (WSGILazyInitialization Off): the daemon processes it"
                 " starts inherit that interpreter, so python-home=, python-path=, lang= and"
                 " locale= do not apply to them; stop and start Apache (a restart is not enough)"
                 " to get a clean spawner",
                 static_cast<long>(pid));
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "GANTRY0088: daemon spawner started (pid %ld): daemon processes are started from"
                 " it, without Python",
                 static_cast<long>(pid));
  if (current_pconf) watch(st);
  return true;
}

bool ensure_spawner(server_rec* s) {
  SpawnerState& st = state(s);
  if (st.pid > 0 && st.parent == getpid()) return true;
  return start_spawner(s, st);
}

struct Watched {
  apr_proc_t proc;
  server_rec* s;
};

void spawner_event(int reason, void* data, int status) {
  auto* w = static_cast<Watched*>(data);
  if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST) return;  // RESTART: it stays
  run_guarded_void(w->s, "daemon spawner supervision", [&] {
    apr_proc_other_child_unregister(w);
    SpawnerState& st = state(w->s);
    if (st.pid != w->proc.pid) return;  // one we replaced on purpose
    const bool stopping = mpm_stopping();
    ap_log_error(APLOG_MARK, stopping ? APLOG_DEBUG : APLOG_ERR, 0, w->s,
                 "GANTRY0081: the daemon spawner (pid %ld) %s; %s",
                 static_cast<long>(st.pid),
                 reason == APR_OC_REASON_LOST ? "vanished" : describe_status(status).c_str(),
                 stopping ? "Apache is stopping" : "starting a new one (running daemon processes are not affected)");
    forget(st, false);
    if (!stopping) ensure_spawner(w->s);
  });
}

void watch(SpawnerState& st) {
  auto* w = static_cast<Watched*>(apr_pcalloc(current_pconf, sizeof(Watched)));
  w->proc.pid = st.pid;
  w->s = current_server;
  apr_proc_other_child_register(&w->proc, spawner_event, w, nullptr, current_pconf);
}

// Apache stops (not a restart): the spawner goes too.
apr_status_t spawner_cleanup(void* data) {
  auto* s = static_cast<server_rec*>(data);
  SpawnerState& st = state(s);
  const bool restart = ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG;
  if (getpid() == st.parent && !restart && st.pid > 0) {
    const pid_t pid = st.pid;
    forget(st, false);  // closing its socket ends it; SIGTERM in case it is stuck
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(pid, nullptr, WNOHANG) == 0; ++i)  // bounded: 1 s
      apr_sleep(apr_time_from_msec(10));
  }
  current_pconf = nullptr;
  return APR_SUCCESS;
}

// Sends one launch; the reply, or false with `error` (the spawner is then forgotten).
bool exchange(SpawnerState& st, const std::string& message, const LaunchDescriptors& fds,
              spawn::SpawnReply& reply, std::string& error) {
  std::array<int, spawn::kMaxDescriptors> list{};
  std::size_t count = 0;
  for (int fd : {fds.listen, fds.table, fds.handover, fds.error_log, fds.python_object})
    if (fd >= 0) list[count++] = fd;
  // No credentials attached: with SO_PASSCRED on its end, the kernel adds ours, which the
  // spawner checks.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * spawn::kMaxDescriptors)]{};
  iovec iov{const_cast<char*>(message.data()), message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (count) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * count);
    std::memcpy(CMSG_DATA(c), list.data(), sizeof(int) * count);
  }
  ssize_t sent;
  do sent = sendmsg(st.fd, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(message.size())) {
    error = std::string("sending the launch failed: ") + std::strerror(errno);
    return false;
  }
  pollfd p{st.fd, POLLIN, 0};
  const apr_time_t deadline = apr_time_now() + apr_time_from_msec(kReplyTimeoutMs);
  for (;;) {
    const int left = static_cast<int>(apr_time_as_msec(deadline - apr_time_now()));
    const int ready = poll(&p, 1, left > 0 ? left : 0);
    if (ready > 0) break;
    if (ready < 0 && errno == EINTR) continue;  // SIGCHLD, among others
    error = "no reply within " + std::to_string(kReplyTimeoutMs / 1000) + " s";
    return false;
  }
  char bytes[spawn::kReplySize + 1];
  ssize_t got;
  do got = recv(st.fd, bytes, sizeof bytes, 0);
  while (got < 0 && errno == EINTR);
  if (got <= 0) {
    error = got == 0 ? "the spawner closed its socket" : std::string("reading its reply failed: ") + std::strerror(errno);
    return false;
  }
  try {
    reply = spawn::decode_reply(std::string_view(bytes, static_cast<std::size_t>(got)));
  } catch (const protocol::ProtocolError& e) {
    error = std::string("its reply is invalid: ") + e.what();
    return false;
  }
  return true;
}

}  // namespace

bool prepare_spawner(apr_pool_t* pconf, server_rec* s) {
  current_pconf = pconf;
  current_server = s;
  apr_pool_cleanup_register(pconf, s, spawner_cleanup, apr_pool_cleanup_null);
  SpawnerState& st = state(s);
  if (st.pid > 0 && st.parent == getpid() && (kill(st.pid, 0) == 0 || errno != ESRCH)) {
    child_fd = st.fd;
    watch(st);  // this generation's code is now the one told when it dies
    return true;
  }
  if (st.pid > 0) {
    // Died and was reaped while no generation watched it (between two configurations).
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "GANTRY0081: the daemon spawner (pid %ld) is gone; starting a new one",
                 static_cast<long>(st.pid));
    forget(st, false);
  }
  return start_spawner(s, st);
}

pid_t spawn_daemon(server_rec* s, spawn::LaunchRequest& request, const LaunchDescriptors& fds,
                   std::string& error) {
  request.descriptors = static_cast<std::uint8_t>(
      (fds.listen >= 0 ? spawn::kFdListen : 0) | (fds.table >= 0 ? spawn::kFdTable : 0) |
      (fds.handover >= 0 ? spawn::kFdHandover : 0) | (fds.error_log >= 0 ? spawn::kFdErrorLog : 0) |
      (fds.python_object >= 0 ? spawn::kFdPythonObject : 0));
  std::string message;
  try {
    message = spawn::encode_launch(request);
  } catch (const protocol::ProtocolError& e) {
    error = e.what();
    return 0;
  }
  // Whatever happens, the copy of the secret in `message` does not outlive this call.
  struct Wipe {
    std::string& m;
    ~Wipe() { explicit_bzero(m.data(), m.size()); }
  } wipe{message};
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure_spawner(s)) {
      error = "the daemon spawner cannot be started (see GANTRY0085)";
      return 0;
    }
    SpawnerState& st = state(s);
    spawn::SpawnReply reply;
    if (!exchange(st, message, fds, reply, error)) {
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                   "GANTRY0083: launching a daemon process of group '%s' through the daemon"
                   " spawner (pid %ld) failed: %s; killing it and starting a new one",
                   request.group.c_str(), static_cast<long>(st.pid), error.c_str());
      forget(st, true);  // gone, hung or confused: a new one for the next attempt
      continue;
    }
    switch (reply.status) {
      case spawn::SpawnStatus::started:
        return reply.pid;
      case spawn::SpawnStatus::bad_version:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "GANTRY0084: the daemon spawner (pid %ld) runs another build of"
                     " mod_gantry.so than the one Apache now loaded; replacing it",
                     static_cast<long>(st.pid));
        forget(st, true);
        error = spawn::describe(reply.status);
        continue;
      case spawn::SpawnStatus::clone_failed:
        error = std::string("clone() failed: ") + std::strerror(reply.error);
        return 0;
      default:
        error = spawn::describe(reply.status);
        return 0;
    }
  }
  return 0;
}

void close_spawner_in_child() {
  if (child_fd >= 0) close(child_fd);
  child_fd = -1;
}

}  // namespace gantry::module
