#include "daemon_retirement.hpp"

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <http_core.h>
#include <http_log.h>
#include <httpd.h>
#include <mpm_common.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "daemon_exit_watch.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// Extra time a draining process gets beyond its shutdown-timeout before SIGKILL.
constexpr apr_interval_time_t kKillGrace = apr_time_from_sec(5);

// Sized for the 4096+ processes a configuration may have (each with a standby).
constexpr std::size_t kMaxRetired = 8192;
constexpr std::size_t kMaxRetiredSockets = 128;
constexpr std::size_t kMaxRetiredMemory = 32;

struct RetiredProcess {
  pid_t pid;  // 0 = free entry
  std::uint32_t generation;
  unsigned index;
  apr_time_t started;
  apr_time_t kill_at;
  std::uint32_t slot;  // in the generation's table and pages
  int cell;
  bool publish;        // not a waiting standby: its end goes to the slot's record
  int socket;          // index in Retirement::sockets, -1 none
  int memory;          // index in Retirement::memory, -1 none
  bool sigkilled;      // we sent SIGKILL (so its death is not the OOM killer's)
  char group[96];
};

struct RetiredSocket {
  char path[sizeof(sockaddr_un::sun_path)];
  std::uint32_t users;  // retired processes still alive; the path goes when it drops to 0
};

// A generation's status table and slot pages, mapped while any of its processes lives.
struct RetiredMemory {
  DaemonTable* table;
  SlotPages::Raw pages;
  std::uint32_t users;
};

struct Retirement {
  RetiredProcess procs[kMaxRetired];
  RetiredSocket sockets[kMaxRetiredSockets];
  RetiredMemory memory[kMaxRetiredMemory];
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

int find_free(const auto& array, auto is_free) {
  for (std::size_t i = 0; i < std::size(array); ++i)
    if (is_free(array[i])) return static_cast<int>(i);
  return -1;
}

void release_memory(RetiredMemory& m) {
  DaemonTable::destroy(m.table);
  SlotPages::release(m.pages);
  m.table = nullptr;
}

void release_retired(Retirement& r, RetiredProcess& p) {
  if (p.socket >= 0) {
    RetiredSocket& sock = r.sockets[p.socket];
    if (sock.users && --sock.users == 0) {
      unlink(sock.path);
      sock.path[0] = '\0';
    }
  }
  if (p.memory >= 0) {
    RetiredMemory& m = r.memory[p.memory];
    if (m.users && --m.users == 0) release_memory(m);
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
    ExitEvidence evidence;
    evidence.lost = reason == APR_OC_REASON_LOST;
    evidence.raw_status = exit_watch::take(p.pid);
    evidence.reported = status;
    const RetiredMemory* m = r && p.memory >= 0 ? &r->memory[p.memory] : nullptr;
    if (const SlotPage* page = m ? SlotPages::page_in(m->pages, p.slot) : nullptr)
      evidence.own_exit = page->own_exit_of(p.cell, p.pid);
    ExitCause cause = decode_exit(evidence);
    cause.pid = p.pid;
    cause.at_us = apr_time_now();
    cause.lived_us = p.started ? cause.at_us - p.started : 0;
    cause.killed_by_supervisor =
        p.sigkilled && cause.kind == ExitCause::Kind::signaled && cause.code == SIGKILL;
    if (m && m->table && p.publish && p.slot < m->table->size()) {
      SlotSnapshot snap;
      snap.generation = p.generation;
      snap.stopping = true;
      snap.last_exit = cause;
      m->table->slot(p.slot).write(snap);
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
// their signal at the restart, so now they get SIGKILL - all at once, waited for together
// - and their sockets go.
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
  std::vector<pid_t> pids;
  for (RetiredProcess& p : r->procs) {
    if (!p.pid) continue;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s,
                 "GANTRY0067: daemon process %u of group '%s' (pid %ld) from generation %u was"
                 " still draining when Apache stopped; sent SIGKILL",
                 p.index, p.group, static_cast<long>(p.pid), p.generation);
    pids.push_back(p.pid);
  }
  SystemProcesses system;
  supervisor::stop_processes(system, pids, 2 * supervisor::kSecond, 0, SIGKILL);
  for (RetiredProcess& p : r->procs)
    if (p.pid) release_retired(*r, p);
  return APR_SUCCESS;
}

}  // namespace

// ---- SystemProcesses ----------------------------------------------------------------------

bool reap_now(pid_t pid) {
  const pid_t got = waitpid(pid, nullptr, WNOHANG);
  return got == pid || (got < 0 && errno == ECHILD);
}

void SystemProcesses::signal(pid_t pid, int sig) { kill(pid, sig); }
bool SystemProcesses::reap(pid_t pid) { return reap_now(pid); }
supervisor::Micros SystemProcesses::now() { return apr_time_now(); }
void SystemProcesses::pause(supervisor::Micros us) { apr_sleep(us); }

// ---- Retiring a generation ----------------------------------------------------------------

void retire_generation(server_rec* s, DaemonGeneration& g, SlotPages& pages,
                       const supervisor::Policy& policy,
                       const std::vector<supervisor::Departing>& departing) {
  Retirement* r = retirement(s, true);
  const apr_time_t now = apr_time_now();
  int memory_ref = -1;
  if (!departing.empty()) {
    memory_ref = find_free(r->memory, [](const RetiredMemory& m) { return m.users == 0; });
    if (memory_ref >= 0)
      r->memory[memory_ref] = {g.table, pages.detach(), static_cast<std::uint32_t>(departing.size())};
  }
  std::vector<int> socket_refs(g.groups.size(), -1);
  for (std::size_t gi = 0; gi < g.groups.size(); ++gi) {
    std::uint32_t users = 0;
    for (const auto& d : departing) users += policy.slot(d.slot).group == gi;
    if (users) {
      const int at = find_free(r->sockets, [](const RetiredSocket& k) { return k.users == 0; });
      if (at >= 0) {
        apr_cpystrn(r->sockets[at].path, g.groups[gi].socket_path.c_str(), sizeof r->sockets[at].path);
        r->sockets[at].users = users;
      }
      socket_refs[gi] = at;
    }
    if (socket_refs[gi] < 0) unlink(g.groups[gi].socket_path.c_str());  // nobody left to use it
  }
  for (const auto& d : departing) {
    const supervisor::Slot& slot = policy.slot(d.slot);
    const DaemonGroupRuntime& group = g.groups[slot.group];
    const int at = find_free(r->procs, [](const RetiredProcess& p) { return p.pid == 0; });
    if (at < 0) {  // more draining processes than we can track: do not leave strays
      kill(d.pid, SIGKILL);
      if (memory_ref >= 0) --r->memory[memory_ref].users;
      continue;
    }
    RetiredProcess& p = r->procs[at];
    p.pid = d.pid;
    p.generation = g.generation;
    p.index = slot.index;
    p.started = d.started;
    p.kill_at = now + apr_time_from_sec(group.options().graceful_timeout.count() +
                                         group.options().shutdown_timeout.count()) +
                kKillGrace;
    p.slot = static_cast<std::uint32_t>(slot.id);
    p.cell = d.cell;
    p.publish = d.cell == 0 || !slot.handover() || slot.handover()->state(d.cell) != CellState::waiting;
    p.socket = socket_refs[slot.group];
    p.memory = memory_ref;
    p.sigkilled = false;
    apr_cpystrn(p.group, group.name().c_str(), sizeof p.group);
  }
  if (memory_ref < 0) {
    DaemonTable::destroy(g.table);
    pages.release();
  } else if (r->memory[memory_ref].users == 0) {
    release_memory(r->memory[memory_ref]);
  }
  g.table = nullptr;
}

std::vector<pid_t> retired_pids(server_rec* s) {
  std::vector<pid_t> pids;
  if (Retirement* r = retirement(s, false))
    for (const RetiredProcess& p : r->procs)
      if (p.pid) pids.push_back(p.pid);
  return pids;
}

std::size_t retired_count(server_rec* s) { return retired_pids(s).size(); }

void forget_retired(server_rec* s) {
  Retirement* r = retirement(s, false);
  if (!r) return;
  for (RetiredProcess& p : r->procs)
    if (p.pid) release_retired(*r, p);
  for (RetiredSocket& sock : r->sockets)
    if (sock.users) unlink(sock.path), sock.users = 0;
}

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
    exit_watch::track(p.pid);  // install() sized the table for these too
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

}  // namespace gantry::module
