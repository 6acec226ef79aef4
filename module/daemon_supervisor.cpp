#include "daemon_supervisor.hpp"

#include <ap_mpm.h>
#include <apr_strings.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>
#include <http_core.h>
#include <http_log.h>
#include <mpm_common.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "build_id.hpp"
#include "daemon_handover.hpp"
#include "daemon_identity.hpp"
#include "daemon_spawner.hpp"
#include "python_loader.hpp"
#include "daemon_runtime.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// A process that dies sooner than this after starting, for a reason other than one of the
// daemon's own recycle exits, counts as a crash-loop death: its replacement waits
// 1, 2, 4 ... kMaxBackoffSeconds s (at most one restart per second per slot).
constexpr apr_interval_time_t kQuickDeath = apr_time_from_sec(10);
constexpr unsigned kMaxBackoffSeconds = 30;
// Extra time a draining process gets beyond its shutdown-timeout before SIGKILL.
constexpr apr_interval_time_t kKillGrace = apr_time_from_sec(5);

// ---- State that outlives a generation (see the header) --------------------------------

constexpr std::size_t kMaxRetired = 512;
constexpr std::size_t kMaxRetiredSockets = 128;
constexpr std::size_t kMaxRetiredTables = 32;

struct RetiredProcess {
  pid_t pid;  // 0 = free entry
  std::uint32_t generation;
  unsigned index;
  apr_time_t started;
  apr_time_t kill_at;
  DaemonTable* table;  // still mapped while any of its processes lives
  std::uint32_t slot;
  int socket;          // index in Retirement::sockets, -1 none
  int table_ref;       // index in Retirement::tables
  bool sigkilled;      // we sent SIGKILL (so its death is not the OOM killer's)
  char group[96];
};

struct RetiredSocket {
  char path[sizeof(sockaddr_un::sun_path)];
  std::uint32_t users;  // retired processes still alive; the path goes when it drops to 0
};

struct RetiredTable {
  DaemonTable* table;
  std::uint32_t users;
};

struct Retirement {
  RetiredProcess procs[kMaxRetired];
  RetiredSocket sockets[kMaxRetiredSockets];
  RetiredTable tables[kMaxRetiredTables];
};

Retirement* retirement(server_rec* s, bool create) {
  // The key carries the layout's size, so a different build loaded by a graceful restart
  // does not misread the previous one's records (it then merely cannot adopt them).
  static const std::string key = "gantry-daemon-retirement-" + std::to_string(sizeof(Retirement));
  apr_pool_t* pool = s->process->pool;
  void* data = nullptr;
  apr_pool_userdata_get(&data, key.c_str(), pool);
  if (!data && create) {
    data = apr_pcalloc(pool, sizeof(Retirement));  // plain data, no cleanup: see header
    // _set, not _setn: the key must be copied into the pool, because this DSO (and the
    // string) is unmapped at the next restart while the pool's hash keeps the key.
    apr_pool_userdata_set(data, key.c_str(), nullptr, pool);
  }
  return static_cast<Retirement*>(data);
}

// ---- The current generation ------------------------------------------------------------

class Supervisor;

struct Slot;

// One process of a slot. A slot has one cell in use, or two when its group keeps a standby
// (daemon_handover.hpp): then either cell may hold the serving process.
struct Cell {
  Slot* slot = nullptr;
  int index = 0;
  apr_proc_t proc{};      // registered with apr_proc_other_child_register: stable address
  bool alive = false;
  apr_time_t started = 0;
};

struct Slot {
  Supervisor* supervisor = nullptr;
  std::size_t group = 0;  // index in generation.groups
  unsigned index = 0;     // process number within the group
  std::size_t table_slot = 0;
  Cell cells[2];
  SlotHandover* handover = nullptr;  // null: the group keeps no standby
  bool stopping = false;  // we sent SIGTERM on purpose: do not replace it
  unsigned quick_deaths = 0;
  std::uint32_t restarts = 0;
  ExitCause last_exit;

  int free_cell() const {
    for (int c = 0; c < (handover ? 2 : 1); ++c)
      if (!cells[c].alive) return c;
    return -1;
  }
};

// Groups that recycle their processes on their own keep a standby per slot; the others
// (replaced only after a crash, a signal or a script change) do not pay for one.
bool keeps_standby(const DaemonOptions& o) {
  return o.maximum_requests > 0 || o.maximum_memory > 0 || o.inactivity_timeout.count() > 0 ||
         o.restart_interval.count() > 0 || o.cpu_time_limit.count() > 0;
}

// This DSO instance's generation. Statics reset when Apache reloads the DSO, which is
// exactly the lifetime wanted; the Apache children read it after fork.
DaemonGeneration* current_generation = nullptr;
Supervisor* current_supervisor = nullptr;

std::string seconds_text(apr_interval_time_t t) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", static_cast<double>(t) / APR_USEC_PER_SEC);
  return buffer;
}

bool mpm_stopping() {
  int state = AP_MPMQ_RUNNING;
  return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS && state == AP_MPMQ_STOPPING;
}

// ---- Exit statuses the MPM does not pass on ---------------------------------------------
//
// httpd's MPM reaps every child of the parent with waitpid(-1) and hands our other-child
// callback only the decoded number (exit status OR signal number): an application's
// os._exit(3) and a SIGQUIT both arrive as 3, and the process wrote nothing in its slot on
// that path. Until the zombie is reaped the kernel still knows which, so the parent peeks:
// on every SIGCHLD, waitid(WNOWAIT) on each daemon process it forked (or adopted) keeps
// that process's raw wait status here for decode_exit(), without reaping it. The handler
// uses only getpid()/waitid() (plain system calls on Linux) and lock-free atomics in static
// memory; it runs in the parent before the MPM loop's next waitpid(), so it sees the zombie
// unless the exit lands inside that very waitpid() call (then the MPM's number is used).
// Statics: they reset with the DSO on a restart, when the handler has been uninstalled.
namespace exit_watch {

constexpr std::size_t kCapacity = 4096;  // daemon processes (and standbys) alive at once
struct Entry {
  std::atomic<pid_t> pid{0};     // 0 = free
  std::atomic<int> status{-1};   // raw wait status once seen, else -1
};
Entry entries[kCapacity];
std::atomic<std::size_t> used{0};  // entries ever handed out (high-water mark)
pid_t parent = 0;                  // the process the handler was installed in
struct sigaction previous{};
bool installed = false;

void peek_all() noexcept {
  const std::size_t n = used.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    Entry& e = entries[i];
    const pid_t pid = e.pid.load(std::memory_order_acquire);
    if (pid <= 0 || e.status.load(std::memory_order_relaxed) >= 0) continue;
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid)
      continue;
    // Re-encoded as waitpid() would have given it, for the W* macros.
    const int raw = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8
                                               : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
    e.status.store(raw, std::memory_order_release);
  }
}

void on_sigchld(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (getpid() == parent) peek_all();
  errno = saved_errno;
  // Whatever was there before keeps working (httpd leaves SIGCHLD at SIG_DFL).
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler) {
    previous.sa_handler(sig);
  }
}

apr_status_t uninstall(void*) {
  // Before the DSO (and this handler's code) is unloaded at a restart or stop.
  if (installed && getpid() == parent) sigaction(SIGCHLD, &previous, nullptr);
  installed = false;
  return APR_SUCCESS;
}

// Once per DSO load, in Apache's parent.
void install(apr_pool_t* pconf) {
  if (installed) return;
  struct sigaction current{};
  if (sigaction(SIGCHLD, nullptr, &current) != 0) return;
  // SIG_IGN would mean children are reaped by the kernel: nobody has statuses then.
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN) return;
  previous = current;
  parent = getpid();
  struct sigaction ours{};
  ours.sa_sigaction = on_sigchld;
  sigemptyset(&ours.sa_mask);
  // SA_RESTART: the parent's other system calls go on as if nothing happened.
  ours.sa_flags = SA_SIGINFO | SA_RESTART | (current.sa_flags & SA_NOCLDSTOP);
  if (sigaction(SIGCHLD, &ours, nullptr) != 0) return;
  installed = true;
  apr_pool_cleanup_register(pconf, nullptr, uninstall, apr_pool_cleanup_null);
}

// A process the parent forked or adopted; its status is kept once it exits.
void track(pid_t pid) noexcept {
  if (pid <= 0) return;
  const std::size_t n = used.load(std::memory_order_relaxed);
  // A stale entry of a reused pid (its process was reaped without take()) must not answer.
  for (std::size_t i = 0; i < n; ++i)
    if (entries[i].pid.load(std::memory_order_relaxed) == pid) entries[i].pid.store(0, std::memory_order_release);
  for (std::size_t i = 0; i <= n && i < kCapacity; ++i) {
    Entry& e = entries[i];
    if (e.pid.load(std::memory_order_relaxed) != 0) continue;
    e.status.store(-1, std::memory_order_relaxed);
    e.pid.store(pid, std::memory_order_release);
    if (i == n) used.store(n + 1, std::memory_order_release);
    peek_all();  // it may have died already, before this entry existed
    return;
  }
}

// The raw wait status seen for `pid` (-1 if none) and forgets it.
int take(pid_t pid) noexcept {
  const std::size_t n = used.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    Entry& e = entries[i];
    if (e.pid.load(std::memory_order_acquire) != pid) continue;
    const int status = e.status.load(std::memory_order_acquire);
    e.pid.store(0, std::memory_order_release);
    return status;
  }
  return -1;
}

// In a forked child (child_init): SIGCHLD of its own children is none of our business.
void leave_child() noexcept {
  if (installed && getpid() != parent) sigaction(SIGCHLD, &previous, nullptr);
}

}  // namespace exit_watch

// What the parent learnt about a dead process. `status` is what the MPM passed (decoded:
// exit status or signal number) or, from APR's own refresh, a raw wait status; the wait
// status exit_watch saw on the zombie, when it saw one, overrides both.
ExitCause decode_exit(const SlotRecord& record, pid_t pid, int status, bool lost,
                      apr_time_t started) {
  ExitCause cause;
  cause.pid = pid;
  cause.at_us = apr_time_now();
  cause.lived_us = started ? cause.at_us - started : 0;
  const int own = record.own_exit(pid);
  const int seen = exit_watch::take(pid);
  if (seen >= 0) status = seen;
  if (lost) {
    cause.kind = ExitCause::Kind::none;
  } else if (own >= 0) {
    cause.kind = ExitCause::Kind::exited;
    cause.code = own;
  } else if (seen >= 0 || status > 0xff) {  // a raw wait status
    if (WIFEXITED(status)) {
      cause.kind = ExitCause::Kind::exited;
      cause.code = WEXITSTATUS(status);
    } else {
      cause.kind = ExitCause::Kind::signaled;
      cause.code = WTERMSIG(status);
      cause.core_dumped = WCOREDUMP(status);
    }
  } else if (status == 0) {
    cause.kind = ExitCause::Kind::exited;
  } else {
    // No exit noted by the process itself: it did not leave through Gantry's exit path,
    // so it was killed. (Raw statuses with the core bit land at 129..191.)
    cause.kind = ExitCause::Kind::signaled;
    cause.code = status & 0x7f;
    cause.core_dumped = (status & 0x80) != 0;
  }
  return cause;
}

// A recycle the daemon chose (maximum-requests, inactivity, ...) or a clean shutdown.
bool intentional_exit(const ExitCause& cause) {
  return cause.kind == ExitCause::Kind::exited &&
         cause.code != static_cast<int>(DaemonExit::startup_failed) &&
         describe_daemon_exit(cause.code) != nullptr;
}

void write_slot(DaemonTable* table, std::size_t index, pid_t pid, apr_time_t started,
                std::uint32_t restarts, std::uint32_t generation, bool stopping,
                const ExitCause& last_exit) {
  if (!table || index >= table->size()) return;
  SlotSnapshot snap;
  snap.pid = pid;
  snap.started_us = started;
  snap.restarts = restarts;
  snap.generation = generation;
  snap.stopping = stopping;
  snap.last_exit = last_exit;
  table->slot(index).write(snap);
}


class Supervisor {
 public:
  Supervisor(server_rec* s, apr_pool_t* pconf, const GlobalConfig& global)
      : s_(s), pconf_(pconf), global_(global) {}

  DaemonGeneration generation;
  std::vector<Slot> slots;  // sized once: other-child records point into it

  server_rec* server() const { return s_; }

  bool setup(apr_pool_t* ptemp);
  void start_all();
  void on_event(Cell& cell, int reason, int status);
  void monitor();
  void cleanup();

 private:
  void fork_cell(Slot& slot, int cell, bool standby, unsigned delay_seconds);
  spawn::LaunchRequest make_launch(const DaemonGroupRuntime& g, const Slot& slot, int cell,
                                   bool standby, unsigned delay_seconds) const;
  void refill(Slot& slot, unsigned delay_seconds);
  // The status-table record a cell's process notes its exit in: the slot's own record for
  // cell 0, a hidden one past the public records for cell 1.
  std::size_t exit_record(const Slot& slot, int cell) const {
    return cell == 0 ? slot.table_slot : slots.size() + slot.table_slot;
  }
  bool open_socket(DaemonGroupRuntime& group);
  void retire();
  void stop();
  const DaemonGroupRuntime& group_of(const Slot& slot) const {
    return generation.groups[slot.group];
  }

  server_rec* s_;
  apr_pool_t* pconf_;
  const GlobalConfig& global_;
  bool stopping_ = false;
  HandoverPage handovers_;
};

std::string socket_path(const GlobalConfig& global, apr_pool_t* ptemp, pid_t parent,
                        std::uint32_t generation, unsigned id) {
  // mod_wsgi's naming: PREFIX.PID.GENERATION.ID.sock, PREFIX = WSGISocketPrefix or the
  // runtime directory's "wsgi" (/var/run/apache2/wsgi.1234.0.1.sock on Debian).
  std::string prefix = global.socket_prefix;
  if (prefix.empty()) {
    const char* dir = ap_runtime_dir_relative(ptemp, "wsgi");
    prefix = dir ? dir : "wsgi";
  }
  return prefix + "." + std::to_string(parent) + "." + std::to_string(generation) + "." +
         std::to_string(id) + ".sock";
}

// %{GLOBAL} -> "", %{SERVER} -> "host" or "host:port"; nullopt-ish "" + false for forms
// that need a request (%{RESOURCE}, %{ENV:...}).
bool resolve_preload_group(const std::string& spec, server_rec* s, std::string& out) {
  if (spec.empty() || spec == "%{GLOBAL}") {
    out.clear();
    return true;
  }
  if (spec == "%{SERVER}") {
    out = s && s->server_hostname ? s->server_hostname : "";
    if (s && s->port && s->port != 80 && s->port != 443) out += ":" + std::to_string(s->port);
    return true;
  }
  if (spec.rfind("%{", 0) == 0) return false;
  out = spec;
  return true;
}

bool Supervisor::setup(apr_pool_t* ptemp) {
  int mpm_generation = 0;
  ap_mpm_query(AP_MPMQ_GENERATION, &mpm_generation);
  generation.generation = static_cast<std::uint32_t>(mpm_generation);
  generation.parent_pid = getpid();

  std::size_t total_slots = 0;
  generation.groups.reserve(global_.daemon_groups.size());
  unsigned id = 0;
  for (const DaemonGroupDecl& decl : global_.daemon_groups) {
    DaemonGroupRuntime& g = generation.groups.emplace_back();
    g.decl = &decl;
    g.id = ++id;
    const DaemonOptions& o = decl.options;
    IdentityResult identity = resolve_daemon_identity(g);
    for (const auto& line : identity.warnings)
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_, "%s", line.c_str());
    if (!identity.error.empty()) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s_, "%s", identity.error.c_str());
      return false;
    }
    g.processes = static_cast<unsigned>(o.processes);
    g.first_slot = total_slots;
    total_slots += g.processes;
    g.traits.multithread = o.threads > 1;
    g.traits.multiprocess = o.multiprocess;
    g.traits.run_once = false;
    g.connect_timeout = std::chrono::seconds(o.connect_timeout);
    const apr_interval_time_t apache_timeout = s_->timeout;
    g.limits.socket_timeout =
        o.socket_timeout.count() > 0
            ? std::chrono::milliseconds(std::chrono::seconds(o.socket_timeout))
            : std::chrono::milliseconds(apache_timeout / 1000);
    g.limits.header_buffer_size = static_cast<std::size_t>(o.header_buffer_size);
    for (const auto& preload : global_.preloads) {
      if (preload.process_group != decl.name) continue;
      gantry::PreloadScript script;
      script.script_path = preload.script;
      script.callable = preload.callable;
      if (!resolve_preload_group(preload.application_group, preload.server, script.application_group)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                     "GANTRY0062: not preloading %s into daemon group '%s': application group"
                     " '%s' can only be resolved for a request; use a literal name,"
                     " %%{GLOBAL} or %%{SERVER} to preload it",
                     preload.script.c_str(), decl.name.c_str(), preload.application_group.c_str());
        continue;
      }
      g.preload.push_back(std::move(script));
    }
    g.socket_path = socket_path(global_, ptemp, generation.parent_pid, generation.generation, g.id);
    // One secret per group (docs/security.md); `groups` was reserved: the address stays.
    g.secret = protocol::generate_secret();
    hold_secret(g.secret.data(), g.secret.size());
    const std::string late = not_yet_effective_warning(o);
    if (!late.empty()) ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_, "%s", late.c_str());
  }

  warn_about_shared_users(s_, generation.groups);

  // Twice the slots: the second half holds the exit notes of standby cells (exit_record).
  generation.table = DaemonTable::create(2 * total_slots);
  handovers_ = map_handovers(total_slots);
  for (auto& g : generation.groups)
    if (!open_socket(g)) return false;

  slots.resize(total_slots);
  for (std::size_t gi = 0; gi < generation.groups.size(); ++gi) {
    const auto& g = generation.groups[gi];
    for (unsigned i = 0; i < g.processes; ++i) {
      Slot& slot = slots[g.first_slot + i];
      slot.supervisor = this;
      slot.group = gi;
      slot.index = i;
      slot.table_slot = g.first_slot + i;
      for (int c = 0; c < 2; ++c) slot.cells[c].slot = &slot, slot.cells[c].index = c;
      // Without the shared page (mmap failed) the group merely goes without standbys.
      if (handovers_.slots && keeps_standby(g.options())) slot.handover = &handovers_.slots[slot.table_slot];
    }
  }
  return true;
}

bool Supervisor::open_socket(DaemonGroupRuntime& g) {
  const DaemonOptions& o = g.options();
  auto fail = [&](const char* step, int error, const std::string& fix) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s_,
                 "GANTRY0052: daemon group '%s': cannot %s the socket %s: %s; %s",
                 g.name().c_str(), step, g.socket_path.c_str(), std::strerror(error), fix.c_str());
    return false;
  };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (g.socket_path.size() >= sizeof(address.sun_path))
    return fail("create", ENAMETOOLONG,
                "UNIX socket paths are limited to " + std::to_string(sizeof(address.sun_path) - 1) +
                    " bytes: set WSGISocketPrefix to a shorter directory");
  std::memcpy(address.sun_path, g.socket_path.c_str(), g.socket_path.size() + 1);

  // A socket left by a crashed Apache with the same pid is stale; anything else at that
  // path is not ours to delete.
  struct stat st{};
  if (lstat(g.socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("create", EEXIST, "something that is not a socket is in the way; remove it or"
                                    " change WSGISocketPrefix");
    unlink(g.socket_path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("create", errno, "the system is out of descriptors or memory");
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    close(fd);
    return fail("bind", error,
                "the directory must exist and be writable by the user Apache starts as;"
                " set WSGISocketPrefix (for example WSGISocketPrefix /var/run/wsgi)");
  }
  // Only Apache's children (socket-user=, default User) may connect; the daemon processes
  // inherit the listening descriptor and need no permission on the path.
  if (geteuid() == 0 && chown(g.socket_path.c_str(), g.identity.socket_uid, -1) != 0) {
    const int error = errno;
    close(fd);
    unlink(g.socket_path.c_str());
    return fail("chown", error, "check socket-user= and Apache's User");
  }
  if (chmod(g.socket_path.c_str(), 0600) != 0) {
    const int error = errno;
    close(fd);
    unlink(g.socket_path.c_str());
    return fail("chmod", error, "check the file system holding WSGISocketPrefix");
  }
  if (o.send_buffer_size > 0) {
    int size = static_cast<int>(o.send_buffer_size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  if (o.receive_buffer_size > 0) {
    int size = static_cast<int>(o.receive_buffer_size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (listen(fd, static_cast<int>(o.listen_backlog)) != 0) {
    const int error = errno;
    close(fd);
    unlink(g.socket_path.c_str());
    return fail("listen on", error, "check listen-backlog=");
  }
  g.listen_fd = fd;
  return true;
}

void Supervisor::start_all() {
  for (auto& g : generation.groups)
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s_,
                 "GANTRY0063: daemon group '%s': %u process(es) x %ld thread(s) as uid %ld,"
                 " listening on %s (generation %u)",
                 g.name().c_str(), g.processes, static_cast<long>(g.options().threads),
                 static_cast<long>(g.identity.uid), g.socket_path.c_str(),
                 generation.generation);
  for (Slot& slot : slots) {
    fork_cell(slot, 0, false, 0);
    if (slot.handover) fork_cell(slot, 1, true, 0);
  }
}

void cell_event(int reason, void* data, int status);

int error_log_fd(server_rec* s) {
  apr_os_file_t fd = -1;
  if (!s->error_log || apr_os_file_get(&fd, s->error_log) != APR_SUCCESS) return -1;
  return fd;
}

// Everything the spawner needs to start this cell's process as this generation configured
// it (docs/spawner.md): the spawner's own memory is the first start's.
spawn::LaunchRequest Supervisor::make_launch(const DaemonGroupRuntime& g, const Slot& slot, int cell,
                                             bool standby, unsigned delay_seconds) const {
  spawn::LaunchRequest l;
  l.generation = generation.generation;
  l.process_index = slot.index;
  l.cell = static_cast<std::uint32_t>(cell);
  l.standby = standby;
  l.keeps_standby = slot.handover != nullptr;
  l.delay_seconds = delay_seconds;
  l.exit_record = static_cast<std::uint32_t>(exit_record(slot, cell));
  if (handovers_.slots) l.handover_slot = static_cast<std::uint32_t>(slot.table_slot);
  l.log_level = static_cast<std::uint32_t>(s_->log.level);
  l.core_dumps = ap_coredumpdir_configured != 0;
  l.group = g.name();
  l.option_words = g.decl->args;
  const DaemonIdentity& id = g.identity;
  l.identity.switch_user = id.switch_user;
  l.identity.uid = id.uid;
  l.identity.gid = id.gid;
  l.identity.user_name = id.user_name;
  // Empty unless the daemon is to start there (home=, or another user's home: enter_home);
  // otherwise it keeps the directory Apache was started in, as under mod_wsgi.
  l.identity.home = id.enter_home ? id.home : std::string();
  l.identity.home_given = id.home_given;
  l.identity.extra_groups.assign(id.extra_groups.begin(), id.extra_groups.end());
  const PythonSettings& py = global_.python;
  l.python.python_home = g.options().python_home.empty() ? py.python_home : g.options().python_home;
  l.python.python_path = g.options().python_path;  // WSGIPythonPath is for embedded mode only
  l.python.optimize = static_cast<std::uint32_t>(py.optimize);
  l.python.restrict_stdin = py.restrict_stdin;
  l.python.restrict_stdout = py.restrict_stdout;
  l.python.restrict_signal = py.restrict_signal;
  l.python.dont_write_bytecode = py.dont_write_bytecode;
  l.python.destroy_interpreter = py.destroy_interpreter;
  l.python.hash_seed = py.hash_seed;
  l.python.warn_options = py.warn_options;
  for (const auto& p : g.preload) l.preload.push_back({p.script_path, p.application_group, p.callable});
  const ServerFacts& facts = py.server;
  l.server = {facts.apache_version, facts.description, facts.build_date, facts.mpm_name,
              static_cast<std::uint32_t>(facts.mpm_processes), static_cast<std::uint32_t>(facts.mpm_threads)};
  l.socket_timeout_ms = static_cast<std::uint64_t>(g.limits.socket_timeout.count());
  l.secret = g.secret;  // this group's only
  l.python_object = python_object_path();
  static const std::string build = this_build_id();
  l.build = build;
  return l;
}

void Supervisor::fork_cell(Slot& slot, int cell_index, bool standby, unsigned delay_seconds) {
  const DaemonGroupRuntime& g = group_of(slot);
  Cell& cell = slot.cells[cell_index];
  // The state is set before fork, so the parent never sees a live process without one.
  if (slot.handover)
    slot.handover->set_state(cell_index, standby ? CellState::waiting : CellState::serving);
  if (handovers_.slots) handovers_.slots[slot.table_slot].rss[cell_index].store(0);
  std::string error;
  spawn::LaunchRequest launch = make_launch(g, slot, cell_index, standby, delay_seconds);
  const HeldSecret hold(launch.secret);  // a spawner started again meanwhile wipes it
  LaunchDescriptors fds;
  fds.listen = g.listen_fd;
  fds.table = generation.table->fd();
  fds.handover = handovers_.slots ? handovers_.fd : -1;
  fds.error_log = error_log_fd(s_);
  fds.python_object = held_python_object_fd();
  const apr_time_t asked = apr_time_now();
  const pid_t pid = spawn_daemon(s_, launch, fds, error);
  explicit_bzero(launch.secret.data(), launch.secret.size());
  if (pid > 0)
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s_,
                 "GANTRY0089: %s %u of group '%s' is pid %ld, started through the spawner in"
                 " %ld us",
                 standby ? "spare for daemon process" : "daemon process", slot.index,
                 g.name().c_str(), static_cast<long>(pid), static_cast<long>(apr_time_now() - asked));
  if (pid <= 0) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s_,
                 "GANTRY0064: cannot start daemon process %u of group '%s': %s; retrying within"
                 " about 10 s - check the process limit (ulimit -u, systemd TasksMax) and memory",
                 slot.index, g.name().c_str(), error.c_str());
    cell.alive = false;
    if (slot.handover) slot.handover->set_state(cell_index, CellState::empty);
    return;
  }
  apr_proc_t proc{};
  proc.pid = pid;
  exit_watch::track(proc.pid);
  cell.proc = proc;
  cell.alive = true;
  slot.stopping = false;
  cell.started = apr_time_now();
  if (!standby)
    write_slot(generation.table, slot.table_slot, proc.pid, cell.started, slot.restarts,
               generation.generation, false, slot.last_exit);
  apr_proc_other_child_register(&cell.proc, cell_event, &cell, nullptr, pconf_);
}

// After a death: make sure one process of the slot accepts (or is about to), and that a
// standby waits when the group keeps one.
void Supervisor::refill(Slot& slot, unsigned delay_seconds) {
  SlotHandover* h = slot.handover;
  if (!h) {
    if (!slot.cells[0].alive) fork_cell(slot, 0, false, delay_seconds);
    return;
  }
  bool serving = false, waiting = false;
  pid_t serving_pid = 0;
  for (const Cell& cell : slot.cells) {
    if (!cell.alive) continue;
    const CellState state = h->state(cell.index);
    if (state == CellState::serving) serving = true, serving_pid = cell.proc.pid;
    if (state == CellState::waiting) waiting = true;
  }
  const bool token_pending = h->go.load() != 0;
  if (!serving && !token_pending) {
    // The serving process died without handing over (a crash, or killed).
    if (waiting) {
      h->give_token();
    } else if (const int c = slot.free_cell(); c >= 0) {
      fork_cell(slot, c, false, delay_seconds);
      return refill(slot, delay_seconds);  // and a standby behind it
    }
  }
  if (serving_pid)
    write_slot(generation.table, slot.table_slot, serving_pid, apr_time_now(), slot.restarts,
               generation.generation, false, slot.last_exit);
  if (const int c = slot.free_cell(); c >= 0) fork_cell(slot, c, true, delay_seconds);
}

void Supervisor::on_event(Cell& cell, int reason, int status) {
  Slot& slot = *cell.slot;
  const DaemonGroupRuntime& g = group_of(slot);
  switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST: {
      apr_proc_other_child_unregister(&cell);
      if (!cell.alive) return;
      cell.alive = false;
      const pid_t pid = cell.proc.pid;
      const CellState last = slot.handover ? slot.handover->state(cell.index) : CellState::serving;
      if (slot.handover) slot.handover->set_state(cell.index, CellState::empty);
      const bool was_standby = last == CellState::waiting;
      ExitCause cause = decode_exit(generation.table->slot(exit_record(slot, cell.index)), pid,
                                    status, reason == APR_OC_REASON_LOST, cell.started);
      const bool planned = slot.stopping || stopping_;
      // Apache's stop signals its whole process group, and a standby (no handlers yet)
      // dies of SIGTERM: neither is a failure.
      const bool sigterm = cause.kind == ExitCause::Kind::signaled &&
                           (cause.code == SIGTERM || cause.code == kRetireSignal);
      const bool quiet = sigterm && (was_standby || mpm_stopping());
      const bool intentional = planned || quiet || intentional_exit(cause);
      if (!intentional && cause.lived_us < kQuickDeath) ++slot.quick_deaths;
      else if (cause.lived_us >= kQuickDeath) slot.quick_deaths = 0;
      const bool replace = !planned && !mpm_stopping();
      // The daemon's own recycles (maximum-requests...) are replaced at once; crashes back off.
      const unsigned delay = intentional || !slot.quick_deaths
                                 ? 0
                                 : std::min(kMaxBackoffSeconds, 1u << std::min(slot.quick_deaths - 1, 5u));
      std::string what = reason == APR_OC_REASON_LOST
                              ? std::string("vanished (reaped elsewhere)")
                              : cause.describe();
      // The daemon names its RSS when it exits on its own; for a death it did not see
      // coming, the last RSS it noted is the best there is.
      if (const std::uint64_t rss = handovers_.slots ? handovers_.slots[slot.table_slot].rss[cell.index].load() : 0) {
        char text[64];
        std::snprintf(text, sizeof text, " (RSS %.1f MiB after its last request)",
                      static_cast<double>(rss) / (1024.0 * 1024.0));
        what += text;
      }
      std::string next = !replace ? "not replaced (Apache is stopping or restarting)"
                         : delay ? "starting a replacement in " + std::to_string(delay) +
                                       " s (it keeps dying within 10 s of starting)"
                         : slot.handover && !was_standby ? std::string("its standby took over")
                                 : std::string("starting a replacement");
      // The daemon logs its own recycle with the reason and its RSS (GANTRY0204): the
      // parent's line repeats it only at debug level. Deaths it did not choose are errors.
      ap_log_error(APLOG_MARK, intentional ? APLOG_DEBUG : APLOG_ERR, 0, s_,
                   "GANTRY0065: daemon process %u of group '%s' (pid %ld%s) %s after %s; %s",
                   slot.index, g.name().c_str(), static_cast<long>(pid),
                   was_standby ? ", a standby" : "", what.c_str(),
                   seconds_text(cause.lived_us).c_str(), next.c_str());
      if (!was_standby) {
        slot.last_exit = cause;
        ++slot.restarts;
        write_slot(generation.table, slot.table_slot, 0, 0, slot.restarts, generation.generation,
                   planned, cause);
      }
      if (replace) refill(slot, delay);
      return;
    }
    case APR_OC_REASON_RESTART:
      // The MPM is reclaiming its children (stop, or a non-graceful restart): ours stop too.
      slot.stopping = true;
      if (cell.alive) {
        kill(cell.proc.pid, SIGTERM);
        write_slot(generation.table, slot.table_slot, cell.proc.pid, cell.started, slot.restarts,
                   generation.generation, true, slot.last_exit);
      }
      return;
    default:  // UNREGISTER (pconf cleanup; cleanup() takes over), RUNNING, UNWRITABLE
      return;
  }
}

void Supervisor::monitor() {
  // Back-stop for a fork that failed: there is no other timer in the parent.
  if (stopping_ || mpm_stopping()) return;
  for (Slot& slot : slots)
    if (!slot.stopping) refill(slot, 0);
}

void cell_event(int reason, void* data, int status) {
  auto* cell = static_cast<Cell*>(data);
  run_guarded_void(cell->slot->supervisor->server(), "daemon supervision",
                   [&] { cell->slot->supervisor->on_event(*cell, reason, status); });
}

// ---- Retired generations ---------------------------------------------------------------

void release_retired(Retirement& r, RetiredProcess& p) {
  if (p.socket >= 0) {
    RetiredSocket& sock = r.sockets[p.socket];
    if (sock.users && --sock.users == 0) {
      unlink(sock.path);
      sock.path[0] = '\0';
    }
  }
  if (p.table_ref >= 0) {
    RetiredTable& t = r.tables[p.table_ref];
    if (t.users && --t.users == 0) {
      DaemonTable::destroy(t.table);
      t.table = nullptr;
    }
  }
  p.pid = 0;
}

struct AdoptedProcess {
  apr_proc_t proc;
  RetiredProcess* record;
  server_rec* s;
};

void retired_event(int reason, void* data, int status) {
  auto* adopted = static_cast<AdoptedProcess*>(data);
  if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST) return;
  run_guarded_void(adopted->s, "daemon supervision", [&] {
    apr_proc_other_child_unregister(adopted);
    RetiredProcess& p = *adopted->record;
    if (!p.pid) return;
    Retirement* r = retirement(adopted->s, false);
    ExitCause cause;
    if (p.table) {
      cause = decode_exit(p.table->slot(p.slot), p.pid, status, reason == APR_OC_REASON_LOST,
                          p.started);
      cause.killed_by_supervisor =
          p.sigkilled && cause.kind == ExitCause::Kind::signaled && cause.code == SIGKILL;
      write_slot(p.table, p.slot, 0, 0, 0, p.generation, true, cause);
    } else {
      exit_watch::take(p.pid);  // nothing to decode it for; free its entry
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, adopted->s,
                 "GANTRY0066: daemon process %u of group '%s' (pid %ld) from generation %u"
                 " finished draining: %s",
                 p.index, p.group, static_cast<long>(p.pid), p.generation,
                 cause.describe().c_str());
    if (r) release_retired(*r, p);
  });
}

// Apache exits while old-generation processes still drain (and no Supervisor of this
// generation stopped them, e.g. the new configuration has no daemon groups): they had
// their SIGTERM at the restart, so now they get SIGKILL, and their sockets go.
struct RetiredCleanup {
  server_rec* s;
  pid_t parent;
};

apr_status_t retired_cleanup(void* data) {
  auto* c = static_cast<RetiredCleanup*>(data);
  if (getpid() != c->parent || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG)
    return APR_SUCCESS;  // a restart: the next generation adopts them again
  Retirement* r = retirement(c->s, false);
  if (!r) return APR_SUCCESS;
  for (RetiredProcess& p : r->procs) {
    if (!p.pid) continue;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s,
                 "GANTRY0067: daemon process %u of group '%s' (pid %ld) from generation %u was"
                 " still draining when Apache stopped; sent SIGKILL",
                 p.index, p.group, static_cast<long>(p.pid), p.generation);
    kill(p.pid, SIGKILL);
    for (int i = 0; i < 100 && waitpid(p.pid, nullptr, WNOHANG) == 0; ++i)  // bounded: 2 s
      apr_sleep(apr_time_from_msec(20));
    release_retired(*r, p);
  }
  return APR_SUCCESS;
}

// A new generation takes over the processes the previous ones left draining: it is now
// the code that will be told when they die.
void adopt_retired(server_rec* s, apr_pool_t* pconf) {
  Retirement* r = retirement(s, false);
  if (!r) return;
  auto* cleanup = static_cast<RetiredCleanup*>(apr_pcalloc(pconf, sizeof(RetiredCleanup)));
  cleanup->s = s;
  cleanup->parent = getpid();
  apr_pool_cleanup_register(pconf, cleanup, retired_cleanup, apr_pool_cleanup_null);
  for (RetiredProcess& p : r->procs) {
    if (!p.pid) continue;
    if (kill(p.pid, 0) != 0 && errno == ESRCH) {  // gone and reaped while we were away
      release_retired(*r, p);
      continue;
    }
    auto* adopted = static_cast<AdoptedProcess*>(apr_pcalloc(pconf, sizeof(AdoptedProcess)));
    adopted->proc.pid = p.pid;
    adopted->record = &p;
    adopted->s = s;
    exit_watch::track(p.pid);
    apr_proc_other_child_register(&adopted->proc, retired_event, adopted, nullptr, pconf);
  }
}

void kill_overdue_retired(server_rec* s) {
  Retirement* r = retirement(s, false);
  if (!r) return;
  const apr_time_t now = apr_time_now();
  for (RetiredProcess& p : r->procs) {
    if (!p.pid || p.kill_at > now) continue;
    if (kill(p.pid, SIGKILL) == 0) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "GANTRY0067: daemon process %u of group '%s' (pid %ld) from generation %u"
                   " was still running after shutdown-timeout; sent SIGKILL",
                   p.index, p.group, static_cast<long>(p.pid), p.generation);
      p.kill_at = now + kKillGrace;  // until the MPM reaps it and retired_event runs
      p.sigkilled = true;
    }
  }
}

int find_free(const auto& array, auto is_free) {
  for (std::size_t i = 0; i < std::size(array); ++i)
    if (is_free(array[i])) return static_cast<int>(i);
  return -1;
}

// Graceful restart: the old processes drain (kRetireSignal) while the new generation starts.
void Supervisor::retire() {
  Retirement* r = retirement(s_, true);
  const apr_time_t now = apr_time_now();
  int table_ref = -1;
  std::uint32_t table_users = 0;
  for (Slot& slot : slots)
    for (const Cell& cell : slot.cells) table_users += cell.alive ? 1 : 0;
  if (table_users) {
    table_ref = find_free(r->tables, [](const RetiredTable& t) { return t.users == 0; });
    if (table_ref >= 0) r->tables[table_ref] = {generation.table, table_users};
  }
  for (auto& g : generation.groups) {
    unsigned users = 0;
    for (unsigned i = 0; i < g.processes; ++i)
      for (const Cell& cell : slots[g.first_slot + i].cells) users += cell.alive ? 1 : 0;
    int socket_ref = -1;
    if (users) {
      socket_ref = find_free(r->sockets, [](const RetiredSocket& k) { return k.users == 0; });
      if (socket_ref >= 0) {
        RetiredSocket& sock = r->sockets[socket_ref];
        apr_cpystrn(sock.path, g.socket_path.c_str(), sizeof sock.path);
        sock.users = users;
      }
    }
    if (socket_ref < 0) unlink(g.socket_path.c_str());  // nobody left to use it
    for (unsigned i = 0; i < g.processes; ++i) {
      Slot& slot = slots[g.first_slot + i];
      for (const Cell& cell : slot.cells) {
        if (!cell.alive) continue;
        // Not SIGTERM: the old processes serve the old children's last requests first,
        // within graceful-timeout (a waiting standby simply dies of it).
        kill(cell.proc.pid, kRetireSignal);
        if (cell.index == 0 || !slot.handover || slot.handover->state(cell.index) != CellState::waiting)
          write_slot(generation.table, slot.table_slot, cell.proc.pid, cell.started, slot.restarts,
                     generation.generation, true, slot.last_exit);
        const int at = find_free(r->procs, [](const RetiredProcess& p) { return p.pid == 0; });
        if (at < 0) {  // more draining processes than we can track: do not leave strays
          kill(cell.proc.pid, SIGKILL);
          continue;
        }
        RetiredProcess& p = r->procs[at];
        p.pid = cell.proc.pid;
        p.generation = generation.generation;
        p.index = slot.index;
        p.started = cell.started;
        p.kill_at = now + apr_time_from_sec(g.options().graceful_timeout.count() +
                                             g.options().shutdown_timeout.count()) +
                    kKillGrace;
        p.table = table_ref >= 0 ? generation.table : nullptr;
        p.slot = static_cast<std::uint32_t>(exit_record(slot, cell.index));
        p.socket = socket_ref;
        p.table_ref = table_ref;
        p.sigkilled = false;
        apr_cpystrn(p.group, g.name().c_str(), sizeof p.group);
      }
    }
  }
  if (table_ref < 0) DaemonTable::destroy(generation.table);
  generation.table = nullptr;
}

// Apache is exiting: SIGTERM everything (this generation and draining ones), SIGKILL
// what is left after shutdown-timeout, and remove every socket.
void Supervisor::stop() {
  std::vector<pid_t> pids;
  std::int64_t wait_seconds = 0;
  for (Slot& slot : slots)
    for (const Cell& cell : slot.cells)
      if (cell.alive) pids.push_back(cell.proc.pid);
  for (auto& g : generation.groups)
    wait_seconds = std::max<std::int64_t>(wait_seconds, g.options().shutdown_timeout.count());
  Retirement* r = retirement(s_, false);
  if (r)
    for (RetiredProcess& p : r->procs)
      if (p.pid) pids.push_back(p.pid);
  for (pid_t pid : pids) kill(pid, SIGTERM);

  const apr_time_t deadline = apr_time_now() + apr_time_from_sec(wait_seconds) + apr_time_from_msec(500);
  std::size_t killed = 0;
  auto reap = [&] {
    pids.erase(std::remove_if(pids.begin(), pids.end(),
                              [](pid_t pid) {
                                const pid_t got = waitpid(pid, nullptr, WNOHANG);
                                return got == pid || (got < 0 && errno == ECHILD);
                              }),
               pids.end());
  };
  for (reap(); !pids.empty() && apr_time_now() < deadline; reap()) apr_sleep(apr_time_from_msec(50));
  if (!pids.empty()) {
    killed = pids.size();
    for (pid_t pid : pids) kill(pid, SIGKILL);
    const apr_time_t last = apr_time_now() + apr_time_from_sec(2);
    for (reap(); !pids.empty() && apr_time_now() < last; reap()) apr_sleep(apr_time_from_msec(20));
  }
  if (killed)
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                 "GANTRY0067: %zu daemon process(es) were still running %ld s after SIGTERM"
                 " (shutdown-timeout); sent SIGKILL",
                 killed, static_cast<long>(wait_seconds));
  for (auto& g : generation.groups) unlink(g.socket_path.c_str());
  if (r) {
    for (RetiredSocket& sock : r->sockets)
      if (sock.users) unlink(sock.path), sock.users = 0;
    for (RetiredProcess& p : r->procs) p.pid = 0;
  }
  DaemonTable::destroy(generation.table);
  generation.table = nullptr;
}

void Supervisor::cleanup() {
  stopping_ = true;
  for (auto& g : generation.groups)
    if (g.listen_fd >= 0) close(g.listen_fd), g.listen_fd = -1;
  // DESTROY_CONFIG: a restart is re-reading the configuration; EXITING: Apache stops.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG) retire();
  else stop();
  // The daemons keep their own mapping of the hand-over page; the parent is done with it.
  unmap_handovers(handovers_);
  for (Slot& slot : slots) slot.handover = nullptr;
}

apr_status_t supervisor_cleanup(void* data) {
  auto* supervisor = static_cast<Supervisor*>(data);
  // Only Apache's parent supervises; a forked process that happens to run pool cleanups
  // (an Apache child, another module's helper) must not signal our daemons.
  if (getpid() == supervisor->generation.parent_pid) {
    run_guarded_void(supervisor->server(), "daemon supervision cleanup",
                     [&] { supervisor->cleanup(); });
  }
  if (current_supervisor == supervisor) {
    current_supervisor = nullptr;
    current_generation = nullptr;
  }
  supervisor->~Supervisor();
  return APR_SUCCESS;
}

}  // namespace

const DaemonGeneration* daemon_generation() { return current_generation; }

const DaemonGroupRuntime* find_daemon_group_runtime(std::string_view name) {
  return current_generation ? current_generation->find(name) : nullptr;
}

int check_daemon_groups(apr_pool_t*, server_rec* s, const GlobalConfig& global) {
  return run_guarded<int>(s, "daemon group check", HTTP_INTERNAL_SERVER_ERROR, [&] {
    int result = OK;
    for (const DaemonGroupDecl& decl : global.daemon_groups) {
      DaemonGroupRuntime g;
      g.decl = &decl;
      IdentityResult identity = resolve_daemon_identity(g);
      if (!identity.error.empty()) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "%s", identity.error.c_str());
        result = HTTP_INTERNAL_SERVER_ERROR;
      }
    }
    return result;
  });
}

int start_daemon_groups(apr_pool_t* pconf, apr_pool_t* ptemp, server_rec* s,
                        const GlobalConfig& global) {
  return run_guarded<int>(s, "daemon group start-up", HTTP_INTERNAL_SERVER_ERROR, [&]() -> int {
    // The first pass is Apache's dry run of the configuration (and -t/-S never get here
    // in normal mode): fork nothing, create nothing.
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL) return OK;
    exit_watch::install(pconf);
    adopt_retired(s, pconf);
    // The spawner is forked here, at the first real pass, before Python can start in the
    // parent (lifecycle.cpp starts it after this) and before any secret exists. Also when
    // there is no daemon group yet but Python will run in the parent: a group a graceful
    // restart adds later still gets a clean spawner.
    const bool python_in_parent = !global.lazy_initialization_on() && !global.restrict_embedded_on();
    if ((!global.daemon_groups.empty() || python_in_parent) && !prepare_spawner(pconf, s))
      return global.daemon_groups.empty() ? OK : HTTP_INTERNAL_SERVER_ERROR;
    if (global.daemon_groups.empty()) return OK;

    auto* supervisor = new (apr_palloc(pconf, sizeof(Supervisor))) Supervisor(s, pconf, global);
    // Registered before any other-child record, so it runs after them (LIFO) and sees the
    // final state of every slot.
    apr_pool_cleanup_register(pconf, supervisor, supervisor_cleanup, apr_pool_cleanup_null);
    current_supervisor = supervisor;
    if (!supervisor->setup(ptemp)) return HTTP_INTERNAL_SERVER_ERROR;
    current_generation = &supervisor->generation;
    supervisor->start_all();
    return OK;
  });
}

void daemon_child_init(apr_pool_t*, server_rec* s) {
  run_guarded_void(s, "daemon child init", [&] {
    exit_watch::leave_child();
    close_spawner_in_child();  // only the parent may ask for daemon processes
    if (!current_generation) return;
    // Only daemon processes accept. An Apache child holding a listener open would also
    // keep a drained generation's socket accepting connections nobody will serve.
    for (auto& g : current_generation->groups)
      if (g.listen_fd >= 0) close(g.listen_fd);
  });
}

void daemon_monitor(server_rec* s) {
  run_guarded_void(s, "daemon monitor", [&] {
    kill_overdue_retired(s);
    if (current_supervisor && current_supervisor->generation.parent_pid == getpid())
      current_supervisor->monitor();
  });
}

}  // namespace gantry::module
