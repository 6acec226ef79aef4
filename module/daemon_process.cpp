#include "daemon_process.hpp"

#include <apr_portable.h>
#include <http_log.h>
#include <http_main.h>
#include <mpm_common.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <chrono>

#include "apache_log.hpp"
#include "daemon_table.hpp"
#include "gantry/slot_page.hpp"
#include "gantry/daemon_api.hpp"
#include "gantry/daemon_options.hpp"
#include "gantry/scoreboard_writer.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry_hooks.h"
#include "process_title.hpp"
#include "python_loader.hpp"
#include "server_facts.hpp"
#include "template_process.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kStartupFailed = static_cast<int>(DaemonExit::startup_failed);

// This process's slot page (gantry/slot_page.hpp) and its cell there.
SlotPage* own_page = nullptr;
int own_cell = 0;
// This process's status scoreboard (gantry/scoreboard_writer.hpp); null without one.
scoreboard::BoardWriter* own_board = nullptr;

// Leaves the process with `status`, recording it first (see SlotPage::own_exit).
// Apache's MPM reaps every child of the parent and runs ap_process_child_status() on it
// before telling us: exit status 15 (APEXIT_CHILDFATAL) would make it shut the whole
// server down, 7 (APEXIT_CHILDSICK) would slow its spawning. The real status is in the
// table, so those two leave with a harmless code instead.
[[noreturn]] void exit_daemon(int status) noexcept {
  if (own_page) own_page->note_own_exit(own_cell, getpid(), status);
  if (own_board) own_board->exited(status);
  int code = status & 0xff;
  if (code == APEXIT_CHILDFATAL || code == APEXIT_CHILDSICK) code = 100 + code;
  _exit(code);
}

// What this process runs from: the launch the parent sent (never the spawner's own,
// older configuration) and the group's options re-parsed from its words.
struct Context {
  server_rec* s;
  const spawn::LaunchRequest& launch;
  const DaemonOptions& options;
  unsigned index;
  const std::string& name() const { return launch.group; }
  bool is_template() const { return launch.role == spawn::LaunchRole::template_; }
  // "daemon process 1" or "the template", for log lines.
  std::string what() const {
    return is_template() ? std::string("the template") : "daemon process " + std::to_string(index);
  }
};

// One line naming the step, the error and what to change; then the process ends. The
// supervisor sees the exit status and applies its crash-loop back-off.
[[noreturn]] void fail(const Context& c, const char* id, const std::string& step, int error,
                       const std::string& fix) {
  ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
               "%s: %s of group '%s' (pid %ld) cannot start: %s failed: %s;"
               " %s",
               id, c.what().c_str(), c.name().c_str(), static_cast<long>(getpid()), step.c_str(),
               error ? std::strerror(error) : "not permitted", fix.c_str());
  exit_daemon(kStartupFailed);
}

void reset_signals() {
  // Apache's parent handles TERM/HUP/USR1/WINCH/CHLD... for itself; a daemon process
  // starts from the defaults and daemon/ installs what it needs.
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);  // EINVAL for the glibc-reserved RT signals: ignored
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The spawner kept nothing it does not need; what a daemon keeps is its own launch's.
void close_inherited_descriptors(const std::vector<int>& keep) {
  // stdin: the terminal with -DFOREGROUND, or /dev/null. The app never gets the terminal.
  // If /dev/null cannot take its place, stdin is closed rather than left to the app.
  ScopedFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) {
    close(0);
  } else if (null_fd.get() != 0) {
    if (dup2(null_fd.get(), 0) < 0) close(0);
  } else {
    (void)null_fd.release();  // it is stdin now; dup2() would have cleared O_CLOEXEC
    fcntl(0, F_SETFD, 0);
  }
  std::vector<int> doomed;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int dir_fd = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      long fd = std::strtol(entry->d_name, &end, 10);
      // null_fd is closed by its ScopedFd: closing it here too made the second close fail
      // with EBADF, or close whatever had taken that number in between.
      if (end == entry->d_name || *end != '\0' || fd == dir_fd || fd == null_fd.get()) continue;
      if (fd > 2 && std::find(keep.begin(), keep.end(), static_cast<int>(fd)) == keep.end())
        doomed.push_back(static_cast<int>(fd));
    }
    closedir(dir);
  }
  for (int fd : doomed) close(fd);
}

// The parent's current error log takes the place of the one the spawner inherited at the
// first start (held there by /dev/null): ap_log_error() on the main server, and stderr,
// write to the log of this generation, rotated or not. Returns the log's descriptor.
int adopt_error_log(int received) {
  if (received < 0) return -1;  // ErrorLog syslog: nothing to redirect
  apr_os_file_t fd = -1;
  if (ap_server_conf && ap_server_conf->error_log &&
      apr_os_file_get(&fd, ap_server_conf->error_log) == APR_SUCCESS && fd > 2 && fd != received &&
      dup2(received, fd) < 0)
    fd = received;  // the main server keeps its old log; lines still land somewhere
  if (dup2(received, 2) < 0)
    ap_log_error(APLOG_MARK, APLOG_WARNING, errno, ap_server_conf,
                 "GANTRY0528: daemon process (pid %ld) cannot put the current error log on its"
                 " stderr (dup2 failed): what the application writes to fd 2 goes to the"
                 " log it inherited", static_cast<long>(getpid()));
  // The received copy, now duplicated into place, is not needed twice (numbers, not
  // owners: these are this process's log for life).
  if (received != fd && received > 2) close(received);
  return fd;
}

void apply_limits(const Context& c) {
  const DaemonOptions& o = c.options;
  auto limit = [&](int resource, std::int64_t value, const char* option) {
    if (value <= 0) return;
    rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    if (setrlimit(resource, &rl) != 0)
      fail(c, "GANTRY0053", std::string("setting ") + option, errno,
           std::string("lower or remove ") + option + "= of WSGIDaemonProcess " + c.name());
  };
  limit(RLIMIT_DATA, o.memory_limit, "memory-limit");
  limit(RLIMIT_AS, o.virtual_memory_limit, "virtual-memory-limit");
  // cpu-time-limit: the soft limit sends SIGXCPU, which the daemon turns into a restart
  // that gives its requests shutdown-timeout; the hard limit (SIGKILL) is the back-stop.
  if (o.cpu_time_limit.count() > 0) {
    const rlim_t soft = static_cast<rlim_t>(o.cpu_time_limit.count());
    rlimit rl{soft, soft + static_cast<rlim_t>(o.shutdown_timeout.count()) + 1};
    if (setrlimit(RLIMIT_CPU, &rl) != 0)
      fail(c, "GANTRY0053", "setting cpu-time-limit", errno,
           "lower or remove cpu-time-limit= of WSGIDaemonProcess " + c.name());
  }
  if (o.cpu_priority != 0 && setpriority(PRIO_PROCESS, 0, static_cast<int>(o.cpu_priority)) != 0)
    fail(c, "GANTRY0053", "setpriority(" + std::to_string(o.cpu_priority) + ")", errno,
         "change cpu-priority= of WSGIDaemonProcess " + c.name());
  if (o.umask >= 0) umask(static_cast<mode_t>(o.umask));
}

void enter_chroot(const Context& c) {
  const std::string& root = c.options.chroot;
  if (root.empty()) return;
  if (chroot(root.c_str()) != 0)
    fail(c, "GANTRY0054", "chroot(" + root + ")", errno,
         "check chroot= of WSGIDaemonProcess " + c.name() +
             " (Apache must start as root and the directory must exist)");
  if (chdir("/") != 0) fail(c, "GANTRY0054", "chdir(/) inside the chroot", errno, "check chroot=");
}

void drop_privileges(const Context& c) {
  const spawn::LaunchIdentity& id = c.launch.identity;
  const std::string where = "WSGIDaemonProcess " + c.name();
  if (id.switch_user) {
    // The user's own supplementary groups (as login would set them), plus the configured ones.
    std::vector<gid_t> groups(64);
    int count = static_cast<int>(groups.size());
    if (getgrouplist(id.user_name.c_str(), id.gid, groups.data(), &count) < 0) {
      groups.resize(count);
      getgrouplist(id.user_name.c_str(), id.gid, groups.data(), &count);
    }
    groups.resize(std::max(count, 0));
    for (gid_t g : id.extra_groups)
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    if (groups.empty()) groups.push_back(id.gid);
    if (setgroups(groups.size(), groups.data()) != 0)
      fail(c, "GANTRY0055", "setgroups() for user '" + id.user_name + "'", errno,
           "check supplementary-groups= of " + where);
    if (setgid(id.gid) != 0)
      fail(c, "GANTRY0055", "setgid(" + std::to_string(id.gid) + ")", errno,
           "check group= of " + where + " or Apache's Group");
    if (setuid(id.uid) != 0)
      fail(c, "GANTRY0055", "setuid(" + std::to_string(id.uid) + ")", errno,
           "check user= of " + where + " or Apache's User");
    // As Apache does for its children: with CoreDumpDirectory, a crash leaves a core, and
    // an Apache child can read a dead daemon's wait status from /proc (the MPM gives the
    // parent only a number that may be an exit status or a signal). (H-C)
    if (c.launch.core_dumps && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
      ap_log_error(APLOG_MARK, APLOG_WARNING, errno, c.s,
                   "GANTRY0526: daemon process %u of group '%s' (pid %ld): prctl(PR_SET_DUMPABLE)"
                   " failed; a crash of this process leaves no core file and its exit is"
                   " reported without the wait status",
                   c.index, c.name().c_str(), static_cast<long>(getpid()));
  }
  // Never run an application as root, whatever the configuration says.
  if (getuid() == 0 || geteuid() == 0 || (id.switch_user && setuid(0) == 0)) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0056: %s of group '%s' (pid %ld) refuses to run as root;"
                 " set user= on %s to an unprivileged account (or Apache's User directive)",
                 c.what().c_str(), c.name().c_str(), static_cast<long>(getpid()), where.c_str());
    exit_daemon(kStartupFailed);
  }
}

void set_environment(const Context& c) {
  const DaemonOptions& o = c.options;
  // Like a login: the app sees its own user's HOME/USER/LOGNAME, not root's from the
  // shell that started Apache. Skipped when the uid has no passwd entry.
  if (passwd* pw = getpwuid(getuid())) {
    setenv("USER", pw->pw_name, 1);
    setenv("LOGNAME", pw->pw_name, 1);
    setenv("USERNAME", pw->pw_name, 1);
    setenv("HOME", pw->pw_dir, 1);
  }
  if (!o.lang.empty()) setenv("LANG", o.lang.c_str(), 1);
  if (!o.locale.empty()) setenv("LC_ALL", o.locale.c_str(), 1);
  if (!o.python_eggs.empty()) setenv("PYTHON_EGG_CACHE", o.python_eggs.c_str(), 1);
}

void change_directory(const Context& c) {
  const spawn::LaunchIdentity& id = c.launch.identity;
  if (id.home_given) {
    if (chdir(id.home.c_str()) != 0)
      fail(c, "GANTRY0057", "chdir(" + id.home + ")", errno,
           "check home= of WSGIDaemonProcess " + c.name() +
               " (it must exist and be searchable by the daemon's user)");
    return;
  }
  // Default, as mod_wsgi: the home directory of a user= other than Apache's User, else (home
  // left empty by the supervisor) the directory Apache was started in: nothing to do. Many
  // service accounts have a home that does not exist (/nonexistent): not worth refusing to
  // start, "/" will do.
  if (id.home.empty()) return;
  if (chdir(id.home.c_str()) == 0) return;
  const int error = errno;
  if (chdir("/") != 0) fail(c, "GANTRY0057", "chdir(/)", errno, "check the file system");
  ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c.s,
               "GANTRY0058: %s of group '%s' (pid %ld) cannot enter the home"
               " directory %s of its user (%s), working in / instead; set home= on"
               " WSGIDaemonProcess %s to choose a directory",
               c.what().c_str(), c.name().c_str(), static_cast<long>(getpid()), id.home.c_str(),
               std::strerror(error), c.name().c_str());
}

// dlopen()s mod_gantry_python.so (once per process; a template's children find it loaded)
// and returns `symbol`, or ends the process with a line saying what is wrong.
void* load_python_symbol(const Context& c, const char* symbol) {
  const std::string path = python_object_path();
  std::string why;
  void* handle = open_python_object(why);
  if (!handle) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0059: %s of group '%s' (pid %ld) cannot load the Python"
                 " side %s - install mod_gantry_python.so from the same build next to"
                 " mod_gantry.so and check that libpython can be found",
                 c.what().c_str(), c.name().c_str(), static_cast<long>(getpid()), why.c_str());
    exit_daemon(kStartupFailed);
  }
  void* entry = dlsym(handle, symbol);
  if (!entry) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0059: %s of group '%s' (pid %ld): %s does not export"
                 " %s() - it is from another build or damaged; reinstall mod_gantry.so and"
                 " mod_gantry_python.so from the same build",
                 c.what().c_str(), c.name().c_str(), static_cast<long>(getpid()), path.c_str(), symbol);
    exit_daemon(kStartupFailed);
  }
  return entry;
}

DaemonMain load_daemon_entry(const Context& c) {
  return reinterpret_cast<DaemonMain>(load_python_symbol(c, kDaemonEntrySymbol));
}

// Who may connect (gantry/peer_check.hpp), found before chroot= hides the socket's path:
// Apache's parent (this process's parent: the spawner clones with CLONE_PARENT), its
// session, and the owner of the socket file - Apache's User or socket-user=, the one user
// besides root the file system lets connect. Then this process leaves Apache's session for
// good, which is what tells it, and everything it forks, apart from Apache's children.
PeerRule leave_apache_session(const Context& c, int listen_fd) {
  PeerRule rule;
  rule.apache_parent = getppid();
  rule.apache_session = getsid(rule.apache_parent);
  sockaddr_un address{};
  socklen_t length = sizeof address - 1;  // stays NUL-terminated
  struct stat st{};
  if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.sun_family != AF_UNIX || address.sun_path[0] == '\0' || stat(address.sun_path, &st) != 0)
    fail(c, "GANTRY0504", "finding the owner of the group's socket", errno,
         "check that nothing removes the sockets under WSGISocketPrefix while Apache runs");
  rule.uid = st.st_uid;
  if (rule.apache_session < 0 || setsid() < 0)
    fail(c, "GANTRY0504", "leaving Apache's session (setsid)", errno,
         "a Gantry bug if it persists: report the line");
  return rule;
}

double seconds(std::chrono::seconds value) { return static_cast<double>(value.count()); }

// What the Python side tells applications about the server (the `apache` module...): the
// parent's figures for its generation, as the launch carried them.
ServerFacts server_facts(const spawn::LaunchServer& l) {
  ServerFacts facts;
  facts.apache_version = l.apache_version;
  facts.description = l.description;
  facts.build_date = l.build_date;
  facts.mpm_name = l.mpm_name;
  facts.mpm_processes = static_cast<int>(l.mpm_processes);
  facts.mpm_threads = static_cast<int>(l.mpm_threads);
  return facts;
}

DaemonRunSpec make_spec(const Context& c, int listen_fd) {
  const DaemonOptions& o = c.options;
  const spawn::LaunchRequest& l = c.launch;
  DaemonRunSpec spec;
  spec.group = l.group;
  spec.process_index = c.index;
  spec.listen_fd = listen_fd;
  spec.threads = static_cast<unsigned>(o.threads);
  spec.stack_size = static_cast<std::size_t>(o.stack_size);
  std::copy(l.secret.begin(), l.secret.end(), spec.secret.begin());
  spec.multiprocess = o.multiprocess;
  spec.python.python_home = l.python.python_home;
  spec.python.python_path = l.python.python_path;
  spec.python.optimize = static_cast<int>(l.python.optimize);
  spec.python.restrict_stdin = l.python.restrict_stdin;
  spec.python.restrict_stdout = l.python.restrict_stdout;
  spec.python.restrict_signal = l.python.restrict_signal;
  spec.python.hash_seed = l.python.hash_seed;
  spec.python.dont_write_bytecode = l.python.dont_write_bytecode;
  spec.python.warn_options = l.python.warn_options;
  spec.python.destroy_interpreter = l.python.destroy_interpreter;
  spec.python.switch_interval = o.switch_interval;  // WSGISwitchInterval is for embedded mode only
  spec.python.process_group = l.group;
  spec.python.logger = &process_logger();
  spec.python.server = daemon_server_facts(server_facts(l.server), static_cast<int>(o.processes),
                                           static_cast<int>(o.threads));
  for (const auto& p : l.preload) spec.preload.push_back({p.script, p.application_group, p.callable});
  spec.maximum_requests = static_cast<std::uint64_t>(o.maximum_requests);
  spec.maximum_requests_jitter = static_cast<std::uint64_t>(o.maximum_requests_jitter);
  spec.maximum_memory = static_cast<std::uint64_t>(o.maximum_memory);
  spec.memory_growth_log = static_cast<std::uint64_t>(o.memory_growth_log);
  spec.inactivity_timeout = seconds(o.inactivity_timeout);
  spec.startup_timeout = seconds(o.startup_timeout);
  spec.request_timeout = seconds(o.request_timeout);
  spec.graceful_timeout = seconds(o.graceful_timeout);
  spec.eviction_timeout = seconds(o.eviction_timeout);
  spec.shutdown_timeout = seconds(o.shutdown_timeout);
  spec.restart_interval = seconds(o.restart_interval);
  spec.interrupt_timeout = seconds(o.interrupt_timeout);
  spec.deadlock_timeout = seconds(o.deadlock_timeout);
  spec.socket_timeout = static_cast<double>(l.socket_timeout_ms) / 1000.0;
  spec.response_buffer_size = static_cast<std::size_t>(o.response_buffer_size);
  spec.queue_timeout = seconds(o.queue_timeout);  // H-C: daemon/connection.cpp applies it
  spec.logger = &process_logger();
  return spec;
}

// The template: "(wsgi:GROUP) template", or "DISPLAY-NAME template".
std::string template_title(const Context& c) {
  const std::string& name = c.options.display_name;
  return (name.empty() ? "(wsgi:" + c.name() + ")" : name) + " template";
}

// A spare shows as one (issue 10): "(wsgi:GROUP) spare", or "DISPLAY-NAME spare".
std::string spare_title(const Context& c) {
  const std::string& name = c.options.display_name;
  return (name.empty() ? "(wsgi:" + c.name() + ")" : name) + " spare";
}

// The serving title: display-name=, or Apache's command line as the spawner found it.
void serving_title(const Context& c) {
  if (c.options.display_name.empty()) restore_process_title();
  else set_process_title(c.options.display_name);
}

// Maps this process's own slot page and nothing else, then closes the descriptor: with it,
// the application could map every other slot's page (docs/shared-memory.md).
SlotPage* attach_own_page(const spawn::LaunchRequest& launch, ScopedFd pages) {
  if (!pages || launch.handover_slot == spawn::kNoHandover) return nullptr;
  return SlotPages::attach_one(pages.get(), launch.handover_slot);
}

[[noreturn]] void fail_launch(const spawn::LaunchRequest& launch, const std::string& why) {
  ap_log_error(APLOG_MARK, APLOG_ALERT, 0, ap_server_conf,
               "GANTRY0087: daemon process %u of group '%s' (pid %ld) cannot start: %s",
               launch.process_index, launch.group.c_str(), static_cast<long>(getpid()), why.c_str());
  exit_daemon(kStartupFailed);
}

// The process's parent is Apache's (cloned with CLONE_PARENT): if it dies without stopping
// us (kill -9, a crash), the kernel sends `sig`. Set after the privilege drop, which clears
// it, and again after a template's fork, which does too; getppid() covers a parent already
// gone.
void die_with_apache(const Context& c, int sig) {
  const pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, sig) != 0)
    fail(c, "GANTRY0527", "prctl(PR_SET_PDEATHSIG)", errno,
         "without it the process could outlive Apache's parent; report this kernel's refusal");
  if (getppid() != parent || parent == 1) exit_daemon(static_cast<int>(DaemonExit::shutdown));
}

// From the standby's wait to the end: what a daemon process does once it is itself, started
// by the spawner or forked from the template.
[[noreturn]] void serve(const Context& c, const LaunchDescriptors& fds, SlotHandover* handover,
                        DaemonMain entry, bool inherited_python, bool preloaded, pid_t template_pid,
                        const PeerRule& peers) {
  const spawn::LaunchRequest& launch = c.launch;
  // A standby blocks here until the process it replaces hands over (SIGTERM, at the
  // default action, ends the wait when Apache stops).
  if (launch.standby && handover) {
    handover->wait_for_turn(static_cast<int>(launch.cell));
    if (own_board) own_board->set_state(scoreboard::State::starting);
    serving_title(c);
  }
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, c.s,
               "GANTRY0060: starting daemon process %u of group '%s' (pid %ld) as uid %ld,"
               " gid %ld with %ld threads",
               c.index, c.name().c_str(), static_cast<long>(getpid()),
               static_cast<long>(getuid()), static_cast<long>(getgid()),
               static_cast<long>(c.options.threads));
  if (inherited_python)
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c.s,
                 "GANTRY0086: daemon process %u of group '%s' (pid %ld) inherited the Python of"
                 " Apache's parent from a spawner started after Python (see GANTRY0082):"
                 " python-home=, python-path=, lang= and locale= are not applied; stop and"
                 " start Apache",
                 c.index, c.name().c_str(), static_cast<long>(getpid()));
  DaemonRunSpec spec = make_spec(c, fds.listen);
  // The template imported the main interpreter's scripts: this process has them.
  if (preloaded)
    std::erase_if(spec.preload, [](const PreloadScript& p) { return p.application_group.empty(); });
  spec.preloaded = preloaded;
  spec.template_pid = template_pid;
  spec.board = own_board;
  spec.peer = peers;
  std::atomic<std::uint64_t>* rss = &own_page->rss[own_cell];
  spec.note_rss = [rss](std::uint64_t bytes) { rss->store(bytes, std::memory_order_relaxed); };
  if (handover) {
    spec.hand_over = [handover, cell = own_cell, s = c.s, index = c.index, group = c.name()] {
      // The moment a recycle takes effect: the standby's GANTRY0203 tells how long it took
      // to serve (bench/spawner_latency.py). Debug: one line per recycle is enough at info.
      ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                   "GANTRY0671: daemon process %u of group '%s' (pid %ld) hands its socket over to"
                   " its standby",
                   index, group.c_str(), static_cast<long>(getpid()));
      handover->hand_over(cell);
    };
    spec.standby_ready = [handover, cell = own_cell] { return handover->standby_waiting(cell); };
  }
  exit_daemon(entry(spec));
}

// What every process of the group does while still privileged and free of Python (the
// spawner's children: daemon processes and the template).
void become_group_process(const Context& c, const LaunchDescriptors& fds) {
  if (c.launch.delay_seconds) sleep(c.launch.delay_seconds);
  close_inherited_descriptors({fds.listen, fds.error_log, fds.python_object, fds.control});
  if (c.is_template()) set_process_title(template_title(c));
  else if (c.launch.standby) set_process_title(spare_title(c));
  else serving_title(c);
  // Loaded while still root and outside any chroot, as Apache loads every module: the
  // build or install directory need not be readable by the daemon's user (a checkout under
  // /root) nor exist inside chroot=. Loading maps libpython; it does not start Python.
  adopt_python_object(c.launch.python_object, fds.python_object);
}

// The steps after the object is loaded: chroot, limits, identity, parent death, environment.
void enter_group_identity(const Context& c) {
  enter_chroot(c);
  apply_limits(c);
  drop_privileges(c);
  // Apache's parent stops its daemons; if it dies without doing so, SIGTERM is a graceful
  // stop, so no daemon outlives it. A template has nothing to finish.
  die_with_apache(c, c.is_template() ? SIGKILL : SIGTERM);
  set_environment(c);
  change_directory(c);
}

[[noreturn]] void log_start_failure(const spawn::LaunchRequest& launch, const char* what) noexcept {
  ap_log_error(APLOG_MARK, APLOG_ALERT, 0, ap_server_conf,
               "GANTRY0061: %s of group '%s' (pid %ld) failed while starting: %s",
               launch.role == spawn::LaunchRole::template_ ? "the template"
                                                           : ("daemon process " + std::to_string(launch.process_index)).c_str(),
               launch.group.c_str(), static_cast<long>(getpid()), what);
  exit_daemon(kStartupFailed);
}

// Steps common to every start: signals, the current error log, this generation's LogLevel.
void take_launch(const spawn::LaunchRequest& launch, LaunchDescriptors& fds) {
  restore_process_title();  // not the spawner's (or the template's) name, even for a moment
  reset_signals();
  const int error_log = adopt_error_log(fds.error_log);
  fds.error_log = error_log;
  if (ap_server_conf) ap_server_conf->log.level = static_cast<int>(launch.log_level);
}

// What a daemon process (not the template) takes from its launch: signals and log as above,
// its own slot page (exit note, RSS, hand-over), its options.
struct OwnLaunch {
  LaunchDescriptors fds;
  DaemonOptions options;
  SlotHandover* handover = nullptr;
  // `mapped`, `board`: the page and the scoreboard the template mapped for it before the
  // fork (fds.handover and fds.scoreboard are then -1).
  OwnLaunch(const spawn::LaunchRequest& launch, const LaunchDescriptors& given, SlotPage* mapped = nullptr,
            scoreboard::BoardWriter* board = nullptr)
      : fds(given) {
    take_launch(launch, fds);
    close_held(fds.table);  // not sent any more; never kept if it were
    own_cell = static_cast<int>(launch.cell);
    ScopedFd pages(std::exchange(fds.handover, -1));  // closed once its page is mapped
    own_page = mapped ? mapped : attach_own_page(launch, std::move(pages));
    if (!own_page) fail_launch(launch, "the slot page did not come with the launch");
    if (fds.scoreboard >= 0) {  // the gantry-status page's view of this process
      own_board = scoreboard::BoardWriter::attach(fds.scoreboard);
      close_held(fds.scoreboard);
    } else {
      own_board = board;
    }
    if (own_board) own_board->begin_process(getpid(), apr_time_now(), launch.standby);
    // The parent parsed these words already; the same parser gives the same options.
    options = parse_daemon_process(launch.group, launch.option_words);
    handover = launch.keeps_standby ? &own_page->handover : nullptr;
  }
};

}  // namespace

void run_daemon_process(const spawn::LaunchRequest& launch, const LaunchDescriptors& given) noexcept {
  try {
    OwnLaunch own(launch, given);
    const Context c{ap_server_conf, launch, own.options, launch.process_index};
    LaunchDescriptors& fds = own.fds;
    SlotHandover* handover = own.handover;
    become_group_process(c, fds);
    const bool inherited_python = python_runtime().initialized;
    DaemonMain entry = load_daemon_entry(c);
    const PeerRule peers = leave_apache_session(c, fds.listen);
    enter_group_identity(c);
    serve(c, fds, handover, entry, inherited_python, false, 0, peers);
  } catch (const std::exception& e) {
    log_start_failure(launch, e.what());
  } catch (...) {
    log_start_failure(launch, "unknown exception");
  }
}

void run_template_process(const spawn::LaunchRequest& launch, const LaunchDescriptors& given) noexcept {
  try {
    LaunchDescriptors fds = given;
    take_launch(launch, fds);
    const DaemonOptions options = parse_daemon_process(launch.group, launch.option_words);
    const Context c{ap_server_conf, launch, options, 0};
    become_group_process(c, fds);
    // Out of Apache's session like every daemon (gantry/peer_check.hpp): the template runs
    // the group's code with preload=On, and must not pass for an Apache child.
    if (setsid() < 0)
      fail(c, "GANTRY0504", "leaving Apache's session (setsid)", errno,
           "a Gantry bug if it persists: report the line");
    if (python_runtime().initialized) {
      // A spawner forked after Python started in the parent (GANTRY0082): a template would
      // only spread that interpreter. The parent starts the group's processes without one.
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c.s,
                   "GANTRY0666: no template for daemon group '%s': the daemon spawner inherited"
                   " the Python of Apache's parent (see GANTRY0082); its processes start one by"
                   " one; stop and start Apache",
                   c.name().c_str());
      exit_daemon(kStartupFailed);
    }
    auto* api_entry = reinterpret_cast<const PythonApi* (*)()>(load_python_symbol(c, kPythonEntrySymbol));
    const PythonApi* api = api_entry();
    if (!api || api->abi != kPythonAbi) fail_launch(launch, "mod_gantry_python.so is from another build");
    DaemonMain entry = load_daemon_entry(c);
    drop_python_object();  // loaded: the processes forked from here must not inherit its descriptor
    enter_group_identity(c);
    const DaemonRunSpec spec = make_spec(c, -1);
    TemplateSetup setup{c.name(), spec, *api, entry, fds.control, options.preload};
    serve_template(setup);  // never returns
  } catch (const std::exception& e) {
    log_start_failure(launch, e.what());
  } catch (...) {
    log_start_failure(launch, "unknown exception");
  }
}

SlotPage* map_launch_page(const spawn::LaunchRequest& launch, ScopedFd pages) noexcept {
  return attach_own_page(launch, std::move(pages));
}

void run_forked_daemon(const spawn::LaunchRequest& launch, const LaunchDescriptors& given, SlotPage* page,
                       scoreboard::BoardWriter* board, DaemonMain entry, bool preloaded,
                       pid_t template_pid) noexcept {
  try {
    OwnLaunch own(launch, given, page, board);
    const Context c{ap_server_conf, launch, own.options, launch.process_index};
    LaunchDescriptors& fds = own.fds;
    SlotHandover* handover = own.handover;
    // Python's own descriptors (and the application's, with preload=On) are the template's
    // and stay open; only what came with this launch, and the template's socket, matter.
    close_held(fds.python_object);
    if (launch.standby) set_process_title(spare_title(c));
    else serving_title(c);
    // Forked from the template, which left Apache's session: this process's parent is
    // Apache's all the same (CLONE_PARENT), and its own setsid() is as good as a daemon's.
    // chroot= groups have no template (their socket is out of sight here).
    const PeerRule peers = leave_apache_session(c, fds.listen);
    die_with_apache(c, SIGTERM);
    serve(c, fds, handover, entry, false, preloaded, template_pid, peers);
  } catch (const std::exception& e) {
    log_start_failure(launch, e.what());
  } catch (...) {
    log_start_failure(launch, "unknown exception");
  }
}

}  // namespace gantry::module
