#include "daemon_template.hpp"

#include <ap_mpm.h>
#include <http_log.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "secret_memory.hpp"
#include "daemon_table.hpp"
#include "guard.hpp"
#include "gantry/scoped_fd.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kLaunchTimeoutMs = 5000;  // a fork and a reply: milliseconds
// A template that dies sooner than this after starting waits 1, 2, 4 ... 30 s to be replaced.
constexpr apr_interval_time_t kQuickDeath = apr_time_from_sec(10);
constexpr unsigned kMaxBackoffSeconds = 30;
// A template not ready this long after its launch is stopped and another started; each
// one stopped so in a row doubles the next one's time (an import that is merely slow ends
// up fitting), up to 16 times this.
constexpr apr_interval_time_t kReadyLimit = apr_time_from_sec(30);
constexpr unsigned kMaxReadyDoublings = 4;
// How often the parent reads a ready template's memory for the status page (it changes
// little once it forks: its own at-fork work, a collection).
constexpr apr_interval_time_t kSampleEvery = apr_time_from_sec(5);

bool mpm_stopping() {
  int state = AP_MPMQ_RUNNING;
  return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS && state == AP_MPMQ_STOPPING;
}

std::string describe_status(int status) {
  // What the MPM passes: 0, an exit status (>= 100 are Gantry's), or a signal number.
  if (status == 0) return "exited";
  if (status > 0 && status < 65) return "was killed by " + signal_name(status);
  return "exited with status " + std::to_string(status);
}

void template_event(int reason, void* data, int status) {
  auto* t = static_cast<GroupTemplate*>(data);
  t->on_event(reason, status);
}

}  // namespace

bool GroupTemplate::start(server_rec* s, apr_pool_t* pconf, const spawn::LaunchRequest& launch,
                          LaunchDescriptors fds, bool preload) {
  s_ = s;
  preload_ = preload;
  pconf_ = pconf;
  group_ = launch.group;
  // Kept for the template's replacements, so registered: a spawner started again (forked
  // from this parent) wipes it along with every other secret (module/secret_memory.hpp).
  release_secret(launch_.secret.data());
  launch_ = launch;
  hold_secret(launch_.secret.data(), launch_.secret.size());
  launch_.role = spawn::LaunchRole::template_;
  fds_ = fds;
  return start_process(false);
}

void GroupTemplate::monitor(apr_time_t now) {
  if (pid_ > 0) {
    if (!take_ready(0)) stop_if_stuck(now);
    else if (now - sampled_at_ >= kSampleEvery) publish(true);
  } else if (restart_at_ && now >= restart_at_) {
    start_process(true);
  }
}

bool GroupTemplate::start_process(bool again) {
  restart_at_ = 0;
  spawn::LaunchRequest launch = launch_;
  const HeldSecret hold(launch.secret);  // spawn_daemon() may start a spawner again
  LaunchDescriptors fds = fds_;
  if (again)
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s_, "GANTRY0669: daemon group '%s': starting a new template",
                 group_.c_str());
  // first: the parent's end, kept; second: the template's, closed here once sent.
  ScopedFdPair pair = make_socket_pair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
  if (!pair) {
    ap_log_error(APLOG_MARK, APLOG_ERR, errno, s_,
                 "GANTRY0662: daemon group '%s': cannot create its template's socket; its"
                 " processes start one by one through the spawner",
                 group_.c_str());
    return false;
  }
  const int on = 1;
  setsockopt(pair.second.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on);  // it checks who asks
  fds.control = pair.second.get();
  std::string error;
  const pid_t pid = spawn_daemon(s_, launch, fds, error);
  explicit_bzero(launch.secret.data(), launch.secret.size());
  pair.second.reset();
  if (pid <= 0) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_,
                 "GANTRY0662: daemon group '%s': cannot start its template: %s; its processes"
                 " start one by one through the spawner (trying again within about 10 s)",
                 group_.c_str(), error.c_str());
    restart_at_ = apr_time_now() + apr_time_from_sec(1);
    return false;
  }
  pid_ = pid;
  fd_ = std::move(pair.first);
  ready_ = false;
  started_ = apr_time_now();
  proc_ = apr_proc_t{};
  proc_.pid = pid;
  apr_proc_other_child_register(&proc_, template_event, this, nullptr, pconf_);
  registered_ = true;
  publish(false);
  return true;
}

bool GroupTemplate::take_ready(int timeout_ms) {
  if (ready_) return true;
  if (!fd_) return false;
  spawn::SpawnReply reply;
  std::string error;
  if (!read_launch_reply(fd_.get(), reply, error, timeout_ms)) {
    if (error == kPeerClosed) {  // it died: its death is reported (GANTRY0661)
      fd_.reset();
    } else if (error.rfind("no reply", 0) != 0) {  // garbled: confused
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_,
                   "GANTRY0662: the template of daemon group '%s' (pid %ld) did not start: %s;"
                   " its processes start one by one through the spawner until a new one is"
                   " ready",
                   group_.c_str(), static_cast<long>(pid_), error.c_str());
      kill(pid_, SIGKILL);
      fd_.reset();
    }
    return false;
  }
  if (reply.status != spawn::SpawnStatus::ready || reply.pid != pid_) {
    kill(pid_, SIGKILL);
    fd_.reset();
    return false;
  }
  ready_ = true;
  stuck_ = 0;
  ready_at_ = apr_time_now();
  const MemoryRollup memory = publish(true);
  constexpr double kMiB = 1024.0 * 1024.0;
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, s_,
               "GANTRY0660: daemon group '%s': template process (pid %ld) ready %.0f ms after its"
               " launch, RSS %.1f MiB, PSS %.1f MiB, USS %.1f MiB; the group's processes are forked"
               " from it",
               group_.c_str(), static_cast<long>(pid_), static_cast<double>(ready_at_ - started_) / 1000.0,
               static_cast<double>(memory.rss) / kMiB, static_cast<double>(memory.pss) / kMiB,
               static_cast<double>(memory.uss) / kMiB);
  return true;
}

bool GroupTemplate::wait_ready(apr_time_t deadline) {
  const apr_interval_time_t left = std::max<apr_interval_time_t>(0, deadline - apr_time_now());
  const bool ok = take_ready(static_cast<int>(apr_time_as_msec(left)));
  if (!ok && fd_)
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                 "GANTRY0662: the template of daemon group '%s' (pid %ld) is not ready %.0f s after"
                 " its launch (its Python start%s takes that long, or is stuck); the first processes"
                 " start through the spawner, and it is stopped and started again if it is not"
                 " ready %ld s after its launch (GANTRY0670)",
                 group_.c_str(), static_cast<long>(pid_),
                 static_cast<double>(apr_time_now() - started_) / APR_USEC_PER_SEC,
                 preload_ ? ", or preload=On's imports," : "", static_cast<long>(apr_time_sec(ready_limit())));
  return ok;
}

apr_interval_time_t GroupTemplate::ready_limit() const { return kReadyLimit << std::min(stuck_, kMaxReadyDoublings); }

void GroupTemplate::stop_if_stuck(apr_time_t now) {
  if (ready_ || !fd_ || now - started_ < ready_limit()) return;
  std::string scripts;
  if (preload_)
    for (const auto& p : launch_.preload)
      if (p.application_group.empty()) scripts += (scripts.empty() ? "" : ", ") + p.script;
  // Stopped, not kept: a template stuck at import (a network call without a timeout, a
  // lock, input) never gets ready, and a new one may, once what it waits for is back.
  ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_,
               "GANTRY0670: the template of daemon group '%s' (pid %ld) is not ready %ld s after its"
               " launch: its Python start%s%s did not finish; stopping it and starting another"
               " (allowed %ld s); the group's processes start through the spawner meanwhile, each"
               " on its own. Find what it waits for (a network call without a timeout, a lock,"
               " input) with `py-spy dump --pid %ld`, or check python-home= and python-path= of"
               " WSGIDaemonProcess %s",
               group_.c_str(), static_cast<long>(pid_), static_cast<long>(apr_time_sec(now - started_)),
               scripts.empty() ? "" : " or the import of its preload=On scripts (",
               scripts.empty() ? "" : (scripts + ")").c_str(),
               static_cast<long>(apr_time_sec(kReadyLimit << std::min(stuck_ + 1, kMaxReadyDoublings))),
               static_cast<long>(pid_), group_.c_str());
  ++stuck_;
  kill(pid_, SIGKILL);  // its death (GANTRY0661) starts the next one
}

bool GroupTemplate::usable() { return pid_ > 0 && fd_ && take_ready(0); }

pid_t GroupTemplate::launch(spawn::LaunchRequest& request, const LaunchDescriptors& fds, std::string& error) {
  EncodedLaunch message;
  if (!encode_launch_for(request, fds, message, error)) return 0;
  spawn::SpawnReply reply;
  if (!exchange_launch(fd_.get(), message.bytes, fds, reply, error, kLaunchTimeoutMs)) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_,
                 "GANTRY0662: forking a process of daemon group '%s' from its template (pid %ld)"
                 " failed: %s; replacing the template, the process starts through the spawner",
                 group_.c_str(), static_cast<long>(pid_), error.c_str());
    replace();
    return 0;
  }
  if (reply.status != spawn::SpawnStatus::started) {
    error = reply.status == spawn::SpawnStatus::clone_failed
                ? std::string("clone() in the template failed: ") + std::strerror(reply.error)
                : std::string("the template refused: ") + spawn::describe(reply.status);
    return 0;
  }
  return reply.pid;
}

GroupTemplate::~GroupTemplate() { forget_secret(launch_.secret); }

void GroupTemplate::forget() {
  fd_.reset();
  pid_ = 0;
  ready_ = false;
  publish(false);
}

MemoryRollup GroupTemplate::publish(bool sample) {
  TemplateSnapshot snap;
  snap.pid = pid_;
  snap.ready = ready_;
  snap.started_us = started_;
  if (sample && pid_ > 0) {
    // The parent is root: it may read a template running as any user. One walk of its
    // memory map, every few seconds, in the parent's monitor.
    snap.memory = read_smaps_rollup(pid_);
    snap.sampled_us = sampled_at_ = apr_time_now();
  }
  if (record_) record_->write(snap);
  return snap.memory;
}

void GroupTemplate::replace() {
  if (pid_ > 0) {
    if (registered_) apr_proc_other_child_unregister(this);
    registered_ = false;
    const pid_t pid = pid_;
    forget();
    kill(pid, SIGKILL);  // holds nothing worth a graceful end; reaped by the MPM's loop
    // Not waited for here: the MPM reaps it. Until then it is a zombie it does not know,
    // so reap it now when it is already gone (it usually is within a millisecond).
    for (int i = 0; i < 50 && waitpid(pid, nullptr, WNOHANG) == 0; ++i) apr_sleep(apr_time_from_msec(2));
  }
  start_process(true);
}

void GroupTemplate::stop() {
  restart_at_ = 0;
  if (pid_ <= 0) return;
  if (registered_) apr_proc_other_child_unregister(this);  // normally gone already (above)
  registered_ = false;
  const pid_t pid = pid_;
  forget();  // closing its socket ends it; SIGTERM in case it is busy importing
  kill(pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid(pid, nullptr, WNOHANG) == 0; ++i) apr_sleep(apr_time_from_msec(10));
  if (waitpid(pid, nullptr, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);  // SIGKILL: immediate
  }
}

void GroupTemplate::close_in_child() { fd_.reset(); }

void GroupTemplate::on_event(int reason, int status) {
  // UNREGISTER: pconf's cleanup removed the record (the generation ends; stop() follows).
  // apr_proc_other_child_unregister() must not be called again: it crashes on a record
  // it does not find.
  if (reason == APR_OC_REASON_UNREGISTER) registered_ = false;
  if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST) return;
  run_guarded_void(s_, "daemon template supervision", [&] {
    apr_proc_other_child_unregister(this);
    registered_ = false;
    const pid_t pid = pid_;
    const apr_interval_time_t lived = apr_time_now() - started_;
    forget();
    const bool stopping = mpm_stopping();
    // The first death is replaced at once; one that keeps happening within 10 s of the
    // start backs off 1, 2, 4 ... 30 s (counted by the monitor, about every 10 s).
    quick_deaths_ = lived < kQuickDeath ? quick_deaths_ + 1 : 0;
    const unsigned delay =
        quick_deaths_ > 1 ? std::min(kMaxBackoffSeconds, 1u << std::min(quick_deaths_ - 2, 5u)) : 0;
    ap_log_error(APLOG_MARK, stopping ? APLOG_DEBUG : APLOG_ERR, 0, s_,
                 "GANTRY0661: the template of daemon group '%s' (pid %ld) %s after %.1f s; %s",
                 group_.c_str(), static_cast<long>(pid),
                 reason == APR_OC_REASON_LOST ? "vanished" : describe_status(status).c_str(),
                 static_cast<double>(lived) / APR_USEC_PER_SEC,
                 stopping ? "Apache is stopping"
                          : ("its running processes keep serving, new ones start through the spawner"
                             " until a new template is ready (starting one in " +
                             std::to_string(delay) + " s)").c_str());
    restart_at_ = stopping ? 0 : apr_time_now() + apr_time_from_sec(delay);
    if (!stopping && delay == 0) start_process(true);
  });
}

}  // namespace gantry::module
