#include "daemon_supervisor.hpp"

#include <ap_mpm.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>
#include <http_core.h>
#include <http_log.h>
#include <mpm_common.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "build_id.hpp"
#include "daemon_exit_watch.hpp"
#include "status_boards.hpp"
#include "daemon_identity.hpp"
#include "daemon_retirement.hpp"
#include "daemon_socket.hpp"
#include "daemon_spawner.hpp"
#include "daemon_template.hpp"
#include "python_loader.hpp"
#include "daemon_runtime.hpp"
#include "gantry/slot_page.hpp"
#include "gantry/supervisor_policy.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

// The policy (which process each slot needs, standbys, back-off, what a restart retires)
// is core/supervisor_policy.cpp; this file is its Apache glue: the spawner, the MPM's
// other-child callbacks, log lines, sockets and the hooks.

// Groups that recycle their processes on their own keep a standby per slot; the others
// (replaced only after a crash, a signal or a script change) do not pay for one.
bool keeps_standby(const DaemonOptions& o) {
  return o.maximum_requests > 0 || o.maximum_memory > 0 || o.inactivity_timeout.count() > 0 ||
         o.restart_interval.count() > 0 || o.cpu_time_limit.count() > 0;
}

class Supervisor;

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

// No RSS above the machine's memory is believed (a page a tenant scribbled on).
std::uint64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size)
                               : std::uint64_t{1} << 40;
}

// What the MPM's other-child callback is registered with: one per cell, stable address.
struct CellWatch {
  Supervisor* supervisor = nullptr;
  std::size_t slot = 0;
  int cell = 0;
  apr_proc_t proc{};
};

void cell_event(int reason, void* data, int status);

class Supervisor final : public supervisor::Host {
 public:
  Supervisor(server_rec* s, apr_pool_t* pconf, const GlobalConfig& global)
      : s_(s), pconf_(pconf), global_(global) {}

  DaemonGeneration generation;

  server_rec* server() const { return s_; }

  bool setup(apr_pool_t* ptemp);
  void start_all();
  void on_event(CellWatch& watch, int reason, int status);
  void monitor() {
    if (mpm_stopping()) return;
    const apr_time_t at = apr_time_now();
    for (auto& t : templates_) t->monitor(at);  // a replacement due, a template now ready
    policy_->refill_all();
  }
  void cleanup();
  // An Apache child needs none of the daemons' pages (only the parent reads them), nor the
  // templates' sockets (only the parent may ask for processes), nor the listening sockets:
  // only daemon processes accept, and an Apache child holding a listener open would also
  // keep a drained generation's socket accepting connections nobody will serve.
  void leave_in_child() {
    pages_.release();
    for (auto& t : templates_) t->close_in_child();
    for (auto& g : generation.groups) g.listen_fd.reset();
  }

  // supervisor::Host
  pid_t spawn(const supervisor::Slot& slot, int cell, bool standby, unsigned delay_seconds) override;
  void signal(pid_t pid, int sig) override { kill(pid, sig); }
  bool reap(pid_t pid) override { return reap_now(pid); }
  supervisor::Micros now() override { return apr_time_now(); }
  void pause(supervisor::Micros us) override { apr_sleep(us); }
  void publish(const supervisor::Slot& slot, pid_t pid, supervisor::Micros started,
               bool stopping) override;

 private:
  spawn::LaunchRequest make_launch(const DaemonGroupRuntime& g, const supervisor::Slot& slot,
                                   int cell, bool standby, unsigned delay_seconds) const;
  void log_death(const supervisor::Slot& slot, const supervisor::Death& d, bool lost);
  void stop();
  bool start_template(std::size_t group);
  void replace_template_after_script_change(const supervisor::Slot& slot, const ExitEvidence& evidence);

  server_rec* s_;
  apr_pool_t* pconf_;
  const GlobalConfig& global_;
  SlotPages pages_;
  std::optional<supervisor::Policy> policy_;
  std::unique_ptr<CellWatch[]> watches_;  // 2 per slot
  // One per group (docs/template.md); made once in setup(): other-child records point in.
  std::vector<std::unique_ptr<GroupTemplate>> templates_;
};

// How long start-up waits for a group's template before its first processes start
// through the spawner instead (Python's start, plus the application with preload=On).
constexpr apr_interval_time_t kTemplateReadyWait = apr_time_from_sec(30);
// How long the parent's loop waits for a template replaced after a script change.
constexpr apr_interval_time_t kReplacementReadyWait = apr_time_from_sec(5);

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
    g.socket_path = daemon_socket_path(global_, ptemp, generation.parent_pid, generation.generation, g.id);
    // One secret per group (docs/security.md); `groups` was reserved: the address stays.
    g.secret = protocol::generate_secret();
    hold_secret(g.secret.data(), g.secret.size());
    const std::string late = not_yet_effective_warning(o);
    if (!late.empty()) ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_, "%s", late.c_str());
  }

  warn_about_shared_users(s_, generation.groups);

  generation.table = DaemonTable::create(total_slots, generation.groups.size());
  if (!pages_.create(total_slots)) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, errno, s_,
                 "GANTRY0540: cannot map the daemon processes' slot pages (%zu slots): the"
                 " system is out of memory or of memfd/mmap resources",
                 total_slots);
    return false;
  }
  // The gantry-status page's scoreboards; without them the daemons merely run unobserved.
  create_status_boards(pconf_, s_, generation);
  for (auto& g : generation.groups)
    if (!open_daemon_socket(s_, g)) return false;

  std::vector<supervisor::GroupShape> shapes;
  for (const auto& g : generation.groups) shapes.push_back({g.processes, keeps_standby(g.options())});
  policy_.emplace(*this, shapes, &pages_, physical_memory());
  watches_.reset(new CellWatch[2 * total_slots]);
  for (std::size_t i = 0; i < 2 * total_slots; ++i) {
    watches_[i].supervisor = this;
    watches_[i].slot = i / 2;
    watches_[i].cell = static_cast<int>(i % 2);
  }
  for (std::size_t i = 0; i < generation.groups.size(); ++i) {
    templates_.push_back(std::make_unique<GroupTemplate>());
    templates_.back()->show_in(&generation.table->template_of(i));
  }
  return true;
}

int error_log_fd(server_rec* s) {
  apr_os_file_t fd = -1;
  if (!s->error_log || apr_os_file_get(&fd, s->error_log) != APR_SUCCESS) return -1;
  return fd;
}

// Everything the spawner needs to start this cell's process as this generation configured
// it (docs/spawner.md): the spawner's own memory is the first start's.
spawn::LaunchRequest Supervisor::make_launch(const DaemonGroupRuntime& g, const supervisor::Slot& slot,
                                             int cell, bool standby, unsigned delay_seconds) const {
  spawn::LaunchRequest l;
  l.generation = generation.generation;
  l.process_index = slot.index;
  l.cell = static_cast<std::uint32_t>(cell);
  l.standby = standby;
  l.keeps_standby = slot.standby;
  l.delay_seconds = delay_seconds;
  // The exit note now lives in the slot's page (cell), not in the status table.
  l.exit_record = 0;
  l.handover_slot = static_cast<std::uint32_t>(slot.id);
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

void Supervisor::start_all() {
  for (auto& g : generation.groups)
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s_,
                 "GANTRY0063: daemon group '%s': %u process(es) x %ld thread(s) as uid %ld,"
                 " listening on %s (generation %u)",
                 g.name().c_str(), g.processes, static_cast<long>(g.options().threads),
                 static_cast<long>(g.identity.uid), g.socket_path.c_str(),
                 generation.generation);
  // Every group's template starts Python at the same time; the first processes are forked
  // from them once they are ready.
  for (std::size_t gi = 0; gi < generation.groups.size(); ++gi) start_template(gi);
  // One deadline for all: they start in parallel, and a stuck one must not hold the others
  // (nor Apache's start) more than once.
  const apr_time_t deadline = apr_time_now() + kTemplateReadyWait;
  for (auto& t : templates_)
    if (t->pid() > 0) t->wait_ready(deadline);
  policy_->start_all();
}

// The group's template: the launch of its first process, as a template (no slot, no cell).
bool Supervisor::start_template(std::size_t group) {
  const DaemonGroupRuntime& g = generation.groups[group];
  // chroot=: a process forked from a template is inside the chroot already, where it cannot
  // see the group's socket file to learn who may connect (leave_apache_session); such groups
  // start every process through the spawner, as before templates.
  if (!g.options().chroot.empty()) return false;
  spawn::LaunchRequest launch = make_launch(g, policy_->slot(g.first_slot), 0, false, 0);
  launch.process_index = 0;
  launch.keeps_standby = false;
  launch.handover_slot = spawn::kNoHandover;
  LaunchDescriptors fds;
  fds.error_log = error_log_fd(s_);
  fds.python_object = held_python_object_fd();
  const HeldSecret hold(launch.secret);  // starting the template may start a spawner again
  const bool started = templates_[group]->start(s_, pconf_, launch, fds, g.options().preload);
  explicit_bzero(launch.secret.data(), launch.secret.size());
  return started;
}

// preload=On: the template holds the application as it was; a process that recycled because
// a WSGI script changed (WSGIScriptReloading) means a new template first, so that its
// replacement is forked with the new code.
void Supervisor::replace_template_after_script_change(const supervisor::Slot& slot,
                                                      const ExitEvidence& evidence) {
  const DaemonGroupRuntime& g = generation.groups[slot.group];
  constexpr int kScriptChanged = static_cast<int>(DaemonExit::script_changed);
  const bool changed = evidence.raw_status >= 0
                           ? WIFEXITED(evidence.raw_status) && WEXITSTATUS(evidence.raw_status) == kScriptChanged
                           : evidence.reported == kScriptChanged;
  if (!g.options().preload || !changed || evidence.lost || mpm_stopping()) return;
  GroupTemplate& t = *templates_[slot.group];
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, s_,
               "GANTRY0668: daemon group '%s' (preload=On): a WSGI script changed; replacing"
               " its template (pid %ld) before starting processes from it",
               g.name().c_str(), static_cast<long>(t.pid()));
  t.replace();
  // Briefly: this is the parent's main loop (Apache's own children wait on it). A template
  // slower than this serves the processes after this one.
  if (t.pid() > 0) t.wait_ready(apr_time_now() + kReplacementReadyWait);
}

void Supervisor::publish(const supervisor::Slot& slot, pid_t pid, supervisor::Micros started,
                         bool stopping) {
  if (!generation.table || slot.id >= generation.table->size()) return;
  SlotSnapshot snap;
  snap.pid = pid;
  snap.started_us = started;
  snap.restarts = slot.restarts;
  snap.generation = generation.generation;
  snap.stopping = stopping;
  snap.last_exit = slot.last_exit;
  generation.table->slot(slot.id).write(snap);
}

pid_t Supervisor::spawn(const supervisor::Slot& slot, int cell, bool standby, unsigned delay_seconds) {
  const DaemonGroupRuntime& g = generation.groups[slot.group];
  std::string error;
  spawn::LaunchRequest launch = make_launch(g, slot, cell, standby, delay_seconds);
  const HeldSecret hold(launch.secret);  // a spawner started again meanwhile wipes it
  LaunchDescriptors fds;
  fds.listen = g.listen_fd.get();
  // The slot pages' memfd: the daemon maps its own page only and closes it before any
  // application code runs. The status table is not passed at all (docs/shared-memory.md).
  fds.handover = pages_.fd();
  fds.error_log = error_log_fd(s_);
  fds.python_object = held_python_object_fd();
  fds.scoreboard = status_board_fd(slot.id, cell);  // the cell's own board, writable
  const apr_time_t asked = apr_time_now();
  // Forked from the group's template when it is ready (its Python shared copy-on-write);
  // otherwise started on its own through the spawner, as before there were templates.
  pid_t pid = 0;
  GroupTemplate& from = *templates_[slot.group];
  if (from.usable()) {
    LaunchDescriptors forked = fds;
    forked.python_object = -1;  // loaded already
    pid = from.launch(launch, forked, error);
  }
  const bool through_template = pid > 0;
  if (!through_template) pid = spawn_daemon(s_, launch, fds, error);
  explicit_bzero(launch.secret.data(), launch.secret.size());
  if (pid <= 0) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s_,
                 "GANTRY0064: cannot start daemon process %u of group '%s': %s; retrying within"
                 " about 10 s - check the process limit (ulimit -u, systemd TasksMax) and memory",
                 slot.index, g.name().c_str(), error.c_str());
    return pid;
  }
  ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s_,
               "GANTRY0089: %s %u of group '%s' is pid %ld, started through the %s in"
               " %ld us",
               standby ? "spare for daemon process" : "daemon process", slot.index,
               g.name().c_str(), static_cast<long>(pid), through_template ? "template" : "spawner",
               static_cast<long>(apr_time_now() - asked));
  if (!exit_watch::track(pid))
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                 "GANTRY0541: daemon process %u of group '%s' (pid %ld): the table of exit"
                 " statuses is full, so if it dies its exit status may be reported as a signal;"
                 " a restart of Apache resizes the table",
                 slot.index, g.name().c_str(), static_cast<long>(pid));
  CellWatch& watch = watches_[2 * slot.id + static_cast<std::size_t>(cell)];
  watch.proc = apr_proc_t{};
  watch.proc.pid = pid;
  apr_proc_other_child_register(&watch.proc, cell_event, &watch, nullptr, pconf_);
  return pid;
}

void Supervisor::log_death(const supervisor::Slot& slot, const supervisor::Death& d, bool lost) {
  const DaemonGroupRuntime& g = generation.groups[slot.group];
  std::string what = lost ? std::string("vanished (reaped elsewhere)") : d.cause.describe();
  if (d.rss) {
    char text[64];
    std::snprintf(text, sizeof text, " (RSS %.1f MiB after its last request)",
                  static_cast<double>(d.rss) / (1024.0 * 1024.0));
    what += text;
  }
  const std::string next =
      !d.replaced ? "not replaced (Apache is stopping or restarting)"
      : d.delay_seconds ? "starting a replacement in " + std::to_string(d.delay_seconds) +
                              " s (it keeps dying within 10 s of starting)"
      : d.standby_took_over ? std::string("its standby took over")
                            : std::string("starting a replacement");
  // The daemon logs its own recycle with the reason and its RSS (GANTRY0204): the parent's
  // line repeats it only at debug level. Deaths it did not choose are errors.
  ap_log_error(APLOG_MARK, d.intentional ? APLOG_DEBUG : APLOG_ERR, 0, s_,
               "GANTRY0065: daemon process %u of group '%s' (pid %ld%s) %s after %s; %s",
               slot.index, g.name().c_str(), static_cast<long>(d.pid),
               d.was_standby ? ", a standby" : "", what.c_str(),
               seconds_text(d.cause.lived_us).c_str(), next.c_str());
}

void Supervisor::on_event(CellWatch& watch, int reason, int status) {
  switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST: {
      apr_proc_other_child_unregister(&watch);
      const supervisor::Slot& slot = policy_->slot(watch.slot);
      const supervisor::Cell& cell = slot.cells[watch.cell];
      if (!cell.alive || cell.pid != watch.proc.pid) return;
      ExitEvidence evidence;
      evidence.lost = reason == APR_OC_REASON_LOST;
      evidence.raw_status = exit_watch::take(cell.pid);
      evidence.reported = status;
      replace_template_after_script_change(slot, evidence);
      const supervisor::Death d = policy_->on_death(watch.slot, watch.cell, evidence, mpm_stopping());
      log_death(slot, d, evidence.lost);
      return;
    }
    case APR_OC_REASON_RESTART:
      // The MPM is reclaiming its children (stop, or a non-graceful restart): ours stop too.
      policy_->on_reclaim(watch.slot, watch.cell);
      return;
    default:  // UNREGISTER (pconf cleanup; cleanup() takes over), RUNNING, UNWRITABLE
      return;
  }
}

void cell_event(int reason, void* data, int status) {
  auto* watch = static_cast<CellWatch*>(data);
  run_guarded_void(watch->supervisor->server(), "daemon supervision",
                   [&] { watch->supervisor->on_event(*watch, reason, status); });
}

// Apache is exiting: SIGTERM everything (this generation and draining ones), SIGKILL what
// is left after shutdown-timeout - one deadline for all of them - and remove every socket.
void Supervisor::stop() {
  std::vector<pid_t> pids = policy_->live_pids();
  std::int64_t wait_seconds = 0;
  for (auto& g : generation.groups)
    wait_seconds = std::max<std::int64_t>(wait_seconds, g.options().shutdown_timeout.count());
  for (pid_t pid : retired_pids(s_)) pids.push_back(pid);
  const auto killed = supervisor::stop_processes(
      *this, pids, apr_time_from_sec(wait_seconds) + apr_time_from_msec(500), apr_time_from_sec(2), SIGTERM);
  if (!killed.empty())
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                 "GANTRY0067: %zu daemon process(es) were still running %ld s after SIGTERM"
                 " (shutdown-timeout); sent SIGKILL",
                 killed.size(), static_cast<long>(wait_seconds));
  for (auto& g : generation.groups) unlink(g.socket_path.c_str());
  forget_retired(s_);
  DaemonTable::destroy(generation.table);
  generation.table = nullptr;
  pages_.release();
}

void Supervisor::cleanup() {
  // The next generation (or nobody) forks from its own templates: these hold this one's
  // configuration and secret.
  for (auto& t : templates_) {
    t->stop();
    t->show_in(nullptr);  // the table may go before this object does
  }
  for (auto& g : generation.groups) g.listen_fd.reset();
  if (!policy_) {  // setup failed half-way
    DaemonTable::destroy(generation.table);
    generation.table = nullptr;
    for (auto& g : generation.groups) unlink(g.socket_path.c_str());
    return;
  }
  policy_->stop_replacing();
  // DESTROY_CONFIG: a restart is re-reading the configuration; EXITING: Apache stops.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG)
    retire_generation(s_, generation, pages_, *policy_, policy_->retire(kRetireSignal));
  else
    stop();
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

// Processes that may be alive at once, for the exit-status table: this generation's
// processes and standbys, and the old generations' draining ones.
std::size_t processes_to_watch(server_rec* s, const GlobalConfig& global) {
  std::size_t n = retired_count(s) + 16;
  for (const DaemonGroupDecl& decl : global.daemon_groups) n += 2 * static_cast<std::size_t>(decl.options.processes);
  return n;
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
    exit_watch::install(pconf, processes_to_watch(s, global));
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
    if (current_supervisor) current_supervisor->leave_in_child();
    if (!current_generation) return;
    // Only the parent writes the status table.
    if (current_generation->table) current_generation->table->make_read_only();
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
