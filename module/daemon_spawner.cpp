#include "daemon_spawner.hpp"

#include <ap_mpm.h>
#include <apr_thread_proc.h>
#include <http_core.h>
#include <http_log.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "daemon_table.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"
#include "python_loader.hpp"
#include "secret_memory.hpp"
#include "spawner_process.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kReplyTimeoutMs = 5000;  // a launch is a clone() and a reply: microseconds

// ---- State that outlives a generation --------------------------------------------------

// Plain data in the process pool, which outlives this module's code (Apache unloads it on
// every restart): so a plain int, closed by forget() or close_spawner_in_child(), not a
// ScopedFd whose destructor would be code from an unloaded object.
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
  close_held(st.fd);
  st.pid = 0;
  child_fd = -1;
}

bool start_spawner(server_rec* s, SpawnerState& st) {
  // first: the parent's end (kept in `st`), second: the spawner's.
  ScopedFdPair pair = make_socket_pair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
  if (!pair) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s,
                 "GANTRY0085: cannot start the daemon spawner: socketpair() failed; no daemon"
                 " process can start - check the descriptor limit (ulimit -n)");
    return false;
  }
  const int on = 1;
  if (setsockopt(pair.second.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    // The spawner learns who asks from the credentials this passes; without them it would
    // have to trust the message.
    ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s,
                 "GANTRY0085: cannot start the daemon spawner: setsockopt(SO_PASSCRED) failed;"
                 " no daemon process can start");
    return false;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    pair.first.reset();
    // Started again after the first spawner died: this copy of the parent's memory holds
    // every group's secret, which no daemon may inherit (docs/security.md).
    wipe_held_secrets();
    run_spawner(pair.second.release(), parent);  // never returns: the spawner's for life
  }
  pair.second.reset();
  if (pid < 0) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s,
                 "GANTRY0085: cannot start the daemon spawner: fork() failed; no daemon process"
                 " can start - check the process limit (ulimit -u, systemd TasksMax) and memory");
    return false;
  }
  st.pid = pid;
  st.fd = pair.first.release();
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

}  // namespace

std::uint8_t descriptor_bits(const LaunchDescriptors& fds) {
  return static_cast<std::uint8_t>(
      (fds.listen >= 0 ? spawn::kFdListen : 0) | (fds.table >= 0 ? spawn::kFdTable : 0) |
      (fds.handover >= 0 ? spawn::kFdHandover : 0) | (fds.error_log >= 0 ? spawn::kFdErrorLog : 0) |
      (fds.python_object >= 0 ? spawn::kFdPythonObject : 0) |
      (fds.scoreboard >= 0 ? spawn::kFdScoreboard : 0) | (fds.control >= 0 ? spawn::kFdControl : 0));
}

EncodedLaunch::~EncodedLaunch() { explicit_bzero(bytes.data(), bytes.size()); }

bool encode_launch_for(spawn::LaunchRequest& request, const LaunchDescriptors& fds, EncodedLaunch& out,
                       std::string& error) {
  request.descriptors = descriptor_bits(fds);
  try {
    out.bytes = spawn::encode_launch(request);
  } catch (const protocol::ProtocolError& e) {
    error = e.what();
    return false;
  }
  return true;
}

bool read_launch_reply(int sock, spawn::SpawnReply& reply, std::string& error, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  const apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
  for (;;) {
    const int left = static_cast<int>(apr_time_as_msec(deadline - apr_time_now()));
    const int ready = poll(&p, 1, left > 0 ? left : 0);
    if (ready > 0) break;
    if (ready < 0 && errno == EINTR) continue;  // SIGCHLD, among others
    error = "no reply within " + std::to_string(timeout_ms) + " ms";
    return false;
  }
  char bytes[spawn::kReplySize + 1];
  ssize_t got;
  do got = recv(sock, bytes, sizeof bytes, 0);
  while (got < 0 && errno == EINTR);
  if (got <= 0) {
    error = got == 0 ? std::string(kPeerClosed) : std::string("reading its reply failed: ") + std::strerror(errno);
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

bool exchange_launch(int sock, const std::string& message, const LaunchDescriptors& fds,
                     spawn::SpawnReply& reply, std::string& error, int timeout_ms) {
  std::array<int, spawn::kMaxDescriptors> list{};
  std::size_t count = 0;
  for (int fd : {fds.listen, fds.table, fds.handover, fds.error_log, fds.python_object, fds.scoreboard,
                 fds.control})
    if (fd >= 0) list[count++] = fd;
  // No credentials attached: with SO_PASSCRED on its end, the kernel adds ours, which the
  // receiver checks.
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
  do sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(message.size())) {
    error = std::string("sending the launch failed: ") + std::strerror(errno);
    return false;
  }
  return read_launch_reply(sock, reply, error, timeout_ms);
}

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
  // Whatever happens, the copy of the secret in `message` does not outlive this call.
  EncodedLaunch encoded;
  if (!encode_launch_for(request, fds, encoded, error)) return 0;
  const std::string& message = encoded.bytes;
  // Registered so that a spawner started again below wipes it (module/secret_memory.hpp).
  const HeldSecret hold(encoded.bytes.data(), encoded.bytes.size());
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure_spawner(s)) {
      error = "the daemon spawner cannot be started (see GANTRY0085)";
      return 0;
    }
    SpawnerState& st = state(s);
    spawn::SpawnReply reply;
    if (!exchange_launch(st.fd, message, fds, reply, error, kReplyTimeoutMs)) {
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
      case spawn::SpawnStatus::ready:  // only a template says so, and only to its own socket
        error = "the spawner answered as a template";
        return 0;
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

void close_spawner_in_child() { close_held(child_fd); }

}  // namespace gantry::module
