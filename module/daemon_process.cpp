#include "daemon_process.hpp"

#include <ap_listen.h>
#include <apr_portable.h>
#include <http_log.h>
#include <mpm_common.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
#include <vector>

#include "apache_log.hpp"
#include "gantry_hooks.h"
#include "python_loader.hpp"
#include "server_facts.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

constexpr int kStartupFailed = static_cast<int>(DaemonExit::startup_failed);

// This process's record in the status table (a forked child has exactly one).
SlotRecord* own_slot = nullptr;

// Leaves the process with `status`, recording it first (see SlotRecord::note_own_exit).
// Apache's MPM reaps every child of the parent and runs ap_process_child_status() on it
// before telling us: exit status 15 (APEXIT_CHILDFATAL) would make it shut the whole
// server down, 7 (APEXIT_CHILDSICK) would slow its spawning. The real status is in the
// table, so those two leave with a harmless code instead.
[[noreturn]] void exit_daemon(int status) noexcept {
  if (own_slot) own_slot->note_own_exit(getpid(), status);
  int code = status & 0xff;
  if (code == APEXIT_CHILDFATAL || code == APEXIT_CHILDSICK) code = 100 + code;
  _exit(code);
}

struct Context {
  server_rec* s;
  const DaemonGroupRuntime& group;
  unsigned index;
};

// One line naming the step, the error and what to change; then the process ends. The
// supervisor sees the exit status and applies its crash-loop back-off.
[[noreturn]] void fail(const Context& c, const char* id, const std::string& step, int error,
                       const std::string& fix) {
  ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
               "%s: daemon process %u of group '%s' (pid %ld) cannot start: %s failed: %s;"
               " %s",
               id, c.index, c.group.name().c_str(), static_cast<long>(getpid()), step.c_str(),
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

int file_fd(apr_file_t* file) {
  apr_os_file_t fd = -1;
  if (!file || apr_os_file_get(&fd, file) != APR_SUCCESS) return -1;
  return fd;
}

void close_inherited_descriptors(const Context& c) {
  // stdin: the terminal with -DFOREGROUND, or /dev/null. The app never gets the terminal.
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0 && null_fd != 0) {
    dup2(null_fd, 0);
    close(null_fd);
  }
  // Apache's listeners first through its own API (keeps APR's view consistent).
  ap_close_listeners();

  std::vector<int> keep = {0, 1, 2, c.group.listen_fd};
  for (server_rec* v = c.s; v; v = v->next) keep.push_back(file_fd(v->error_log));

  std::vector<int> doomed;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int dir_fd = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || fd == dir_fd) continue;
      if (std::find(keep.begin(), keep.end(), static_cast<int>(fd)) == keep.end())
        doomed.push_back(static_cast<int>(fd));
    }
    closedir(dir);
  }
  for (int fd : doomed) close(fd);
}

// Overwrites the memory the kernel shows as /proc/PID/cmdline (what `ps` prints) with
// `title`, and sets the thread name (what `ps -e`/top print, 15 characters).
void set_process_title(const std::string& title) {
  prctl(PR_SET_NAME, title.substr(0, 15).c_str(), 0, 0, 0);
  // arg_start and arg_end are fields 48 and 49 of /proc/self/stat (Linux >= 3.5). Reading
  // them avoids guessing from process->argv, which Apache rewrites (-k, -D are removed).
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return;
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  unsigned long arg_start = 0, arg_end = 0;
  for (int n = 3; fields >> field; ++n) {  // the text after ')' starts at field 3
    if (n == 48) arg_start = std::strtoul(field.c_str(), nullptr, 10);
    if (n == 49) {
      arg_end = std::strtoul(field.c_str(), nullptr, 10);
      break;
    }
  }
  if (!arg_start || arg_end <= arg_start + 1) return;
  char* area = reinterpret_cast<char*>(arg_start);
  const std::size_t size = arg_end - arg_start;
  const std::size_t n = std::min(title.size(), size - 1);  // mod_wsgi also truncates
  std::memset(area, 0, size);
  std::memcpy(area, title.data(), n);
}

void apply_limits(const Context& c) {
  const DaemonOptions& o = c.group.options();
  auto limit = [&](int resource, std::int64_t value, const char* option) {
    if (value <= 0) return;
    rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    if (setrlimit(resource, &rl) != 0)
      fail(c, "GANTRY0053", std::string("setting ") + option, errno,
           std::string("lower or remove ") + option + "= of WSGIDaemonProcess " + c.group.name());
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
           "lower or remove cpu-time-limit= of WSGIDaemonProcess " + c.group.name());
  }
  if (o.cpu_priority != 0 && setpriority(PRIO_PROCESS, 0, static_cast<int>(o.cpu_priority)) != 0)
    fail(c, "GANTRY0053", "setpriority(" + std::to_string(o.cpu_priority) + ")", errno,
         "change cpu-priority= of WSGIDaemonProcess " + c.group.name());
  if (o.umask >= 0) umask(static_cast<mode_t>(o.umask));
}

void enter_chroot(const Context& c) {
  const std::string& root = c.group.options().chroot;
  if (root.empty()) return;
  if (chroot(root.c_str()) != 0)
    fail(c, "GANTRY0054", "chroot(" + root + ")", errno,
         "check chroot= of WSGIDaemonProcess " + c.group.name() +
             " (Apache must start as root and the directory must exist)");
  if (chdir("/") != 0) fail(c, "GANTRY0054", "chdir(/) inside the chroot", errno, "check chroot=");
}

void drop_privileges(const Context& c) {
  const DaemonIdentity& id = c.group.identity;
  const std::string where = "WSGIDaemonProcess " + c.group.name();
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
    if (ap_coredumpdir_configured) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  }
  // Never run an application as root, whatever the configuration says.
  if (getuid() == 0 || geteuid() == 0 || (id.switch_user && setuid(0) == 0)) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0056: daemon process %u of group '%s' (pid %ld) refuses to run as root;"
                 " set user= on %s to an unprivileged account (or Apache's User directive)",
                 c.index, c.group.name().c_str(), static_cast<long>(getpid()), where.c_str());
    exit_daemon(kStartupFailed);
  }
}

void set_environment(const Context& c) {
  const DaemonOptions& o = c.group.options();
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
  const DaemonIdentity& id = c.group.identity;
  if (id.home_given) {
    if (chdir(id.home.c_str()) != 0)
      fail(c, "GANTRY0057", "chdir(" + id.home + ")", errno,
           "check home= of WSGIDaemonProcess " + c.group.name() +
               " (it must exist and be searchable by the daemon's user)");
    return;
  }
  // Default, as mod_wsgi: the daemon user's home directory. Many service accounts have a
  // home that does not exist (/nonexistent): not worth refusing to start, "/" will do.
  if (!id.home.empty() && chdir(id.home.c_str()) == 0) return;
  const int error = errno;
  if (chdir("/") != 0) fail(c, "GANTRY0057", "chdir(/)", errno, "check the file system");
  if (!id.home.empty())
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c.s,
                 "GANTRY0058: daemon process %u of group '%s' (pid %ld) cannot enter the home"
                 " directory %s of its user (%s), working in / instead; set home= on"
                 " WSGIDaemonProcess %s to choose a directory",
                 c.index, c.group.name().c_str(), static_cast<long>(getpid()), id.home.c_str(),
                 std::strerror(error), c.group.name().c_str());
}

DaemonMain load_daemon_entry(const Context& c) {
  const std::string path = python_object_path();
  std::string why;
  void* handle = open_python_object(why);
  if (!handle) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0059: daemon process %u of group '%s' (pid %ld) cannot load the Python"
                 " side %s - install mod_gantry_python.so from the same build next to"
                 " mod_gantry.so and check that libpython can be found",
                 c.index, c.group.name().c_str(), static_cast<long>(getpid()), why.c_str());
    exit_daemon(kStartupFailed);
  }
  auto entry = reinterpret_cast<DaemonMain>(dlsym(handle, kDaemonEntrySymbol));
  if (!entry) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, c.s,
                 "GANTRY0059: daemon process %u of group '%s' (pid %ld): %s does not export"
                 " %s() - it is from another build or damaged; reinstall mod_gantry.so and"
                 " mod_gantry_python.so from the same build",
                 c.index, c.group.name().c_str(), static_cast<long>(getpid()), path.c_str(),
                 kDaemonEntrySymbol);
    exit_daemon(kStartupFailed);
  }
  return entry;
}

double seconds(std::chrono::seconds value) { return static_cast<double>(value.count()); }

DaemonRunSpec make_spec(server_rec* s, const GlobalConfig& global,
                        const DaemonGeneration& generation, const DaemonGroupRuntime& group,
                        unsigned index) {
  const DaemonOptions& o = group.options();
  DaemonRunSpec spec;
  spec.group = group.name();
  spec.process_index = index;
  spec.listen_fd = group.listen_fd;
  spec.threads = static_cast<unsigned>(o.threads);
  spec.stack_size = static_cast<std::size_t>(o.stack_size);
  std::copy(generation.secret.begin(), generation.secret.end(), spec.secret.begin());
  spec.multiprocess = o.multiprocess;
  spec.python = global.python;
  if (!o.python_home.empty()) spec.python.python_home = o.python_home;
  spec.python.python_path = o.python_path;  // WSGIPythonPath is for embedded mode only
  spec.python.switch_interval = o.switch_interval;  // so is WSGISwitchInterval (mod_wsgi 6)
  spec.python.process_group = group.name();
  spec.python.logger = &process_logger();
  spec.python.server = daemon_server_facts(global.python.server, static_cast<int>(o.processes),
                                           static_cast<int>(o.threads));
  spec.preload = group.preload;
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
  spec.socket_timeout = o.socket_timeout.count() > 0 ? seconds(o.socket_timeout)
                                                     : static_cast<double>(apr_time_sec(s->timeout));
  spec.response_buffer_size = static_cast<std::size_t>(o.response_buffer_size);
  spec.queue_timeout = seconds(o.queue_timeout);  // H-C: daemon/connection.cpp applies it
  spec.logger = &process_logger();
  return spec;
}

}  // namespace

void run_daemon_process(server_rec* s, const GlobalConfig& global,
                        const DaemonGeneration& generation, const DaemonGroupRuntime& group,
                        const DaemonStart& start) noexcept {
  int status = kStartupFailed;
  const unsigned process_index = start.process_index;
  own_slot = &generation.table->slot(start.exit_record);
  const pid_t parent = getppid();
  try {
    const Context c{s, group, process_index};
    reset_signals();
    if (start.delay_seconds) sleep(start.delay_seconds);
    close_inherited_descriptors(c);
    if (!group.options().display_name.empty()) set_process_title(group.options().display_name);
    // Loaded while still root and outside any chroot, as Apache loads every module: the
    // build or install directory need not be readable by the daemon's user (a checkout under
    // /root) nor exist inside chroot=. Loading maps libpython; it does not start Python.
    DaemonMain entry = load_daemon_entry(c);
    enter_chroot(c);
    apply_limits(c);
    drop_privileges(c);
    // Apache's parent stops its daemons; if it dies without doing so (kill -9, a crash),
    // the kernel sends SIGTERM instead - a graceful stop - so no daemon outlives it. Set
    // after the privilege drop, which clears it; getppid() covers a parent already gone.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) exit_daemon(static_cast<int>(DaemonExit::shutdown));
    set_environment(c);
    change_directory(c);
    // A standby blocks here until the process it replaces hands over (SIGTERM, at the
    // default action, ends the wait when Apache stops).
    if (start.standby && start.handover) start.handover->wait_for_turn(start.cell);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "GANTRY0060: starting daemon process %u of group '%s' (pid %ld) as uid %ld,"
                 " gid %ld with %ld threads",
                 process_index, group.name().c_str(), static_cast<long>(getpid()),
                 static_cast<long>(getuid()), static_cast<long>(getgid()),
                 static_cast<long>(group.options().threads));
    DaemonRunSpec spec = make_spec(s, global, generation, group, process_index);
    if (std::atomic<std::uint64_t>* rss = start.rss)
      spec.note_rss = [rss](std::uint64_t bytes) { rss->store(bytes, std::memory_order_relaxed); };
    if (SlotHandover* handover = start.handover)
    {
      spec.hand_over = [handover, cell = start.cell] { handover->hand_over(cell); };
      spec.standby_ready = [handover, cell = start.cell] { return handover->standby_waiting(cell); };
    }
    status = entry(spec);
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s,
                 "GANTRY0061: daemon process %u of group '%s' (pid %ld) failed while starting:"
                 " %s",
                 process_index, group.name().c_str(), static_cast<long>(getpid()), e.what());
  } catch (...) {
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s,
                 "GANTRY0061: daemon process %u of group '%s' (pid %ld) failed while starting:"
                 " unknown exception",
                 process_index, group.name().c_str(), static_cast<long>(getpid()));
  }
  // _exit, not exit: Apache's atexit handlers and stdio buffers belong to the parent.
  exit_daemon(status);
}

}  // namespace gantry::module
