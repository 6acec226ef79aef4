// Python initialisation, interpreters per application group, per-thread thread states.
#include "wsgi/interpreters.hpp"

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <unordered_map>
#include <vector>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/file_wrapper.hpp"
#include "wsgi/input_stream.hpp"
#include "wsgi/interpreter_setup.hpp"
#include "wsgi/log_ids.hpp"
#include "wsgi/log_stream.hpp"
#include "wsgi/python_config.hpp"
#include "wsgi/process_metrics.hpp"
#include "wsgi/request_counters.hpp"
#include "wsgi/start_response.hpp"

namespace gantry::wsgi {
namespace {

// Process-wide state. Heap-allocated and never destroyed: it must stay valid for thread
// exits and atexit-time calls after static destructors could have run.
struct Process {
  std::mutex mutex;  // guards the fields below except where noted; never taken with the GIL held
  bool init_attempted = false;
  bool init_ok = false;
  PythonSettings settings;
  Interpreter* main = nullptr;
  PyThreadState* main_thread_state = nullptr;  // the state Py_Initialize made (initializing thread)
  std::unordered_map<std::string, Interpreter*, StringHash, std::equal_to<>> by_name;
  std::atomic<bool> running{false};
  // Bumped by after_fork_child: thread states cached before it may be gone.
  std::atomic<std::uint64_t> generation{0};
};

Process& process() {
  static Process* p = new Process;
  return *p;
}

// This OS thread's thread states, one per interpreter it has run code in.
struct ThreadStates {
  struct Entry {
    Interpreter* interpreter;
    PyThreadState* thread_state;
    std::uint64_t generation;
  };
  std::vector<Entry> entries;

  Entry* find(const Interpreter* interpreter, std::uint64_t generation) noexcept {
    for (auto& e : entries) {
      if (e.interpreter == interpreter && e.generation == generation) return &e;
    }
    return nullptr;
  }
  Entry* find(std::string_view group, std::uint64_t generation) noexcept {
    for (auto& e : entries) {
      if (e.generation == generation && e.interpreter->name == group) return &e;
    }
    return nullptr;
  }

  // No destructor: a thread's states are never freed. The threads that run requests
  // (Apache's MPM workers, the daemon's pool) exit only when their process ends, and
  // freeing then is all cost: each state needs the GIL, so with a few dozen application
  // groups the exiting workers queued for it for a long time. That slowed the event MPM
  // children's exit enough for httpd's own stop sequence to crash (core: the main thread
  // segfaulted inside mod_mpm_event's socket handling while every worker waited for the
  // GIL in the destructor this used to have). The memory goes with the process.
};

thread_local ThreadStates this_thread;

// This thread's state for `interpreter`, created on first use. No GIL needed: in 3.11
// PyThreadState_New only takes the runtime's head lock.
PyThreadState* thread_state_for(Interpreter& interpreter) {
  Process& p = process();
  std::uint64_t generation = p.generation.load();
  if (auto* e = this_thread.find(&interpreter, generation)) return e->thread_state;
  if (&interpreter != p.main && !this_thread.find(p.main, generation)) {
    thread_state_for(*p.main);  // bind PyGILState to the main interpreter first
  }
  this_thread.entries.reserve(this_thread.entries.size() + 1);  // no throw after New
  PyThreadState* ts = PyThreadState_New(interpreter.state);
  if (!ts) throw std::bad_alloc();
  this_thread.entries.push_back({&interpreter, ts, generation});
  return ts;
}

// Creates the sub-interpreter for `group`. Caller holds p.mutex, not the GIL.
Interpreter* create_sub_interpreter(Process& p, std::string_view group, const LogTarget& log) {
  PyThreadState* main_ts = thread_state_for(*p.main);
  auto interpreter = std::make_unique<Interpreter>();
  interpreter->name.assign(group);
  this_thread.entries.reserve(this_thread.entries.size() + 1);

  py::ThreadStateActivation active(main_ts);
  PyThreadState* sub_ts = Py_NewInterpreter();  // makes sub_ts current (same shared GIL)
  if (!sub_ts) {
    // 3.11 restores the previous thread state on failure.
    py::FetchedError error = py::fetch_error();
    log_exception(log, Level::error, ids::kSubInterpreterFailed,
                  "Failed to create a Python sub-interpreter for application group '" + interpreter->name + "'",
                  error);
    PyThreadState_Swap(main_ts);
    return nullptr;
  }
  interpreter->state = PyThreadState_GetInterpreter(sub_ts);
  interpreter->initial_thread_state = sub_ts;
  setup_interpreter(*interpreter, p.settings);
  PyThreadState_Swap(main_ts);  // so `active` hands back the GIL with the state it took

  Interpreter* raw = interpreter.release();  // lives as long as the process
  this_thread.entries.push_back({raw, sub_ts, p.generation.load()});
  p.by_name.emplace(raw->name, raw);
  log.log(Level::info, ids::kSubInterpreterCreated,
          "Created Python sub-interpreter for application group '" + raw->name + "'");
  return raw;
}

void log_status(const LogTarget& log, const char* what, const PyStatus& status) {
  std::string text = std::string("Python initialisation failed (") + what + ")";
  if (status.func) text.append(": ").append(status.func);
  if (status.err_msg) text.append(": ").append(status.err_msg);
  text.append("; check WSGIPythonHome/python-home= points at a Python 3.11 prefix or a virtualenv made with one");
  log.log(Level::crit, ids::kPythonInitFailed, text);
}

// WSGIPythonHome / python-home=. A plain prefix (/usr, /opt/python3.11) becomes
// PyConfig.home. A virtualenv cannot be a home (it has no standard library, so Python
// fails with "failed to get the Python codec"): start Python as the venv's own
// interpreter would start, as <venv>/bin/python, and let Python's path computation find
// pyvenv.cfg, the base installation it names, and then the venv's site-packages.
PyStatus set_python_home(PyConfig& config, const std::string& home) {
  struct stat st {};
  if (::stat((home + "/pyvenv.cfg").c_str(), &st) != 0) {
    return PyConfig_SetBytesString(&config, &config.home, home.c_str());
  }
  const std::string python = home + "/bin/python";
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, python.c_str());
  if (PyStatus_Exception(status)) return status;
  return PyConfig_SetBytesString(&config, &config.executable, python.c_str());
}

// No WSGIPythonHome / python-home=: the Python this module was built against, as if
// started as its own executable. Left to itself, Python would look for "python3" on the
// server's PATH, and with /bin ahead of /usr/bin (merged /usr) it settles on prefix "/";
// or on another Python installed earlier on PATH.
PyStatus set_build_python(PyConfig& config) {
  PyStatus status = PyConfig_SetBytesString(&config, &config.home, GANTRY_PYTHON_PREFIX);
  if (!PyStatus_Exception(status)) {
    status = PyConfig_SetBytesString(&config, &config.program_name, GANTRY_PYTHON_EXECUTABLE);
  }
  if (PyStatus_Exception(status)) return status;
  return PyConfig_SetBytesString(&config, &config.executable, GANTRY_PYTHON_EXECUTABLE);
}

bool start_interpreter(Process& p) {
  const PythonSettings& s = p.settings;
  LogTarget log{nullptr, s.logger};
  if (Py_IsInitialized()) {
    log.log(Level::crit, ids::kPythonInitFailed,
            "Python is already initialised in this process by something else (another module embedding "
            "Python, such as mod_python or a second mod_wsgi); load only one");
    return false;
  }
  // UTF-8 mode without touching the process locale: Apache usually runs with LANG=C,
  // and the server's locale is not ours to change.
  PyPreConfig preconfig;
  PyPreConfig_InitIsolatedConfig(&preconfig);
  preconfig.utf8_mode = 1;
  PyStatus status = Py_PreInitialize(&preconfig);
  if (PyStatus_Exception(status)) {
    log_status(log, "pre-initialisation", status);
    return false;
  }

  // Isolated: no PYTHON* environment variables, no user site-packages, no cwd on sys.path
  // (a server's environment is not a developer's shell). Site packages still load.
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  struct ConfigClear {
    PyConfig* c;
    ~ConfigClear() { PyConfig_Clear(c); }
  } clear{&config};
  config.install_signal_handlers = 0;  // Apache / the daemon own signals
  config.site_import = 1;
  config.optimization_level = s.optimize;
  config.parse_argv = 0;
  char argv0[] = "mod_wsgi";  // sys.argv as mod_wsgi sets it
  char* argv[] = {argv0};
  status = PyConfig_SetBytesArgv(&config, 1, argv);
  if (!PyStatus_Exception(status)) {
    status = s.python_home.empty() ? set_build_python(config) : set_python_home(config, s.python_home);
  }
  if (!PyStatus_Exception(status)) status = apply_start_settings(config, s);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  if (PyStatus_Exception(status)) {
    log_status(log, "configuration", status);
    return false;
  }
  // Now the GIL is held with the main thread state current.
  if (!ready_log_stream_types() || !ready_input_stream_type() || !ready_file_wrapper_type() ||
      !ready_start_response_type()) {
    py::FetchedError error = py::fetch_error();
    log_exception(log, Level::crit, ids::kPythonInitFailed, "Python initialisation failed (Gantry's types)", error);
    PyEval_SaveThread();
    return false;
  }
  auto* main = new Interpreter;  // lives as long as the process
  main->state = PyInterpreterState_Main();
  p.main = main;
  p.by_name.emplace(std::string(), main);
  p.main_thread_state = PyThreadState_Get();
  main->initial_thread_state = p.main_thread_state;
  mark_initial_thread();
  note_process_start();
  this_thread.entries.push_back({main, p.main_thread_state, p.generation.load()});
  setup_interpreter(*main, s);
  apply_runtime_settings(s);
  log.log(Level::info, ids::kPythonInitialized,
          std::string("Initialised Python ") + Py_GetVersion() +
              (s.python_home.empty() ? std::string() : " with home '" + s.python_home + "'"));
  PyEval_SaveThread();  // from here on nobody holds the GIL between requests
  return true;
}

}  // namespace

bool initialize_python(const PythonSettings& settings) noexcept {
  Process& p = process();
  try {
    std::lock_guard lock(p.mutex);
    if (p.init_attempted) return p.init_ok;
    p.init_attempted = true;
    p.settings = settings;
    p.init_ok = start_interpreter(p);
    p.running = p.init_ok;
    return p.init_ok;
  } catch (const std::exception& e) {
    LogTarget{nullptr, settings.logger}.log(Level::crit, ids::kInternalError,
                                            std::string("Python initialisation failed: ") + e.what());
    return false;
  }
}

bool python_running() noexcept { return process().running.load(); }

const PythonSettings& python_settings() noexcept { return process().settings; }

LogTarget process_log() noexcept { return LogTarget{nullptr, process().settings.logger}; }

std::optional<Binding> bind_interpreter(std::string_view group, const LogTarget& log) noexcept {
  Process& p = process();
  try {
    std::uint64_t generation = p.generation.load();
    if (auto* e = this_thread.find(group, generation)) return Binding{e->interpreter, e->thread_state};
    Interpreter* interpreter = nullptr;
    {
      std::lock_guard lock(p.mutex);
      if (auto it = p.by_name.find(group); it != p.by_name.end()) {
        interpreter = it->second;
      } else {
        interpreter = create_sub_interpreter(p, group, log);
        if (!interpreter) return std::nullopt;
      }
    }
    return Binding{interpreter, thread_state_for(*interpreter)};
  } catch (const std::exception& e) {
    log.log(Level::error, ids::kInternalError,
            std::string("Failed to attach to the Python interpreter for application group '") + std::string(group) +
                "': " + e.what());
    return std::nullopt;
  }
}

namespace {

// In a forked child: `ts` (the forking thread's) is the only thread state left; states
// cached by thread before the fork are stale (generation).
void adopt_forked_thread_state(Process& p, PyThreadState* ts) {
  p.main_thread_state = ts;
  p.main->initial_thread_state = ts;
  p.generation.fetch_add(1);
  this_thread.entries.clear();
  this_thread.entries.push_back({p.main, ts, p.generation.load()});
}

}  // namespace

void after_fork_child_python() noexcept {
  Process& p = process();
  reset_request_counts_after_fork();
  note_process_start();
  if (!p.running.load()) return;
  if (p.by_name.size() > 1) {
    // CPython 3.11's PyOS_AfterFork_Child deadlocks when sub-interpreters exist (it
    // clears them while holding the runtime lock it then takes again). Refuse Python in
    // this child rather than hang it; the parent must only have used %{GLOBAL}.
    p.running = false;
    process_log().log(Level::crit, ids::kForkWithSubInterpreters,
                      "Python cannot be used in this forked child: the parent process had created "
                      "sub-interpreters (application groups other than %{GLOBAL}) before forking, which "
                      "Python 3.11 cannot carry across fork; do not preload scripts into non-global "
                      "application groups in the parent (use WSGILazyInitialization On)");
    return;
  }
  // CPython's fork handling needs a current thread state: use this thread's main one
  // (or the initial one if this thread never ran Python). PyOS_AfterFork_Child then
  // rebuilds the GIL and drops every other thread's state.
  std::uint64_t generation = p.generation.load();
  auto* mine = this_thread.find(p.main, generation);
  PyThreadState* ts = mine ? mine->thread_state : p.main_thread_state;
  PyEval_RestoreThread(ts);
  PyOS_AfterFork_Child();
  PyEval_SaveThread();
  adopt_forked_thread_state(p, ts);
}

pid_t fork_python_process(pid_t (*clone)(void*), void* context) noexcept {
  Process& p = process();
  if (!p.running.load()) return clone(context);
  std::uint64_t generation = p.generation.load();
  auto* mine = this_thread.find(p.main, generation);
  PyThreadState* ts = mine ? mine->thread_state : p.main_thread_state;
  PyEval_RestoreThread(ts);
  PyOS_BeforeFork();  // os.register_at_fork(before=...), the import lock
  const pid_t pid = clone(context);
  const int saved_errno = errno;
  if (pid != 0) {
    PyOS_AfterFork_Parent();
    PyEval_SaveThread();
    errno = saved_errno;
    return pid;
  }
  PyOS_AfterFork_Child();  // after_in_child hooks (random re-seeds itself), threading
  PyEval_SaveThread();
  reset_request_counts_after_fork();
  note_process_start();
  adopt_forked_thread_state(p, ts);
  return 0;
}

void process_started_python(long template_pid, bool preloaded) noexcept {
  Process& p = process();
  if (!p.running.load()) return;
  try {
    std::vector<Interpreter*> all;
    {
      std::lock_guard lock(p.mutex);
      for (auto& [name, interpreter] : p.by_name) all.push_back(interpreter);
    }
    for (Interpreter* interpreter : all) {
      py::ThreadStateActivation active(thread_state_for(*interpreter));
      publish_process_started(interpreter->hooks, p.settings.process_group, template_pid, preloaded);
    }
  } catch (const std::exception& e) {
    process_log().log(Level::error, ids::kInternalError, std::string("process_started failed: ") + e.what());
  }
}

std::size_t freeze_python_heap() noexcept {
  if (!process().running.load()) return 0;
  py::ThreadStateActivation active(process().main_thread_state);
  py::Ref gc = py::Ref::steal(PyImport_ImportModule("gc"));
  std::size_t frozen = 0;
  if (gc) {
    py::Ref collected = py::Ref::steal(PyObject_CallMethod(gc.get(), "collect", nullptr));
    py::Ref done = py::Ref::steal(PyObject_CallMethod(gc.get(), "freeze", nullptr));
    py::Ref count = py::Ref::steal(PyObject_CallMethod(gc.get(), "get_freeze_count", nullptr));
    if (count) frozen = PyLong_AsSize_t(count.get());
  }
  if (PyErr_Occurred()) {
    py::FetchedError error = py::fetch_error();
    log_exception(process_log(), Level::warning, "GANTRY0664", "gc.freeze() in the daemon group's template failed; its processes share fewer pages", error);
  }
  return frozen;
}

void shutdown_python() noexcept { shutdown_python_for(""); }

void shutdown_python_for(std::string_view reason) noexcept {
  Process& p = process();
  if (!p.running.exchange(false)) return;  // once, whichever path asks first
  try {
    std::vector<Interpreter*> order;
    {
      std::lock_guard lock(p.mutex);
      for (auto& [name, interpreter] : p.by_name) {
        if (interpreter != p.main) order.push_back(interpreter);
      }
      order.push_back(p.main);  // the main interpreter's handlers run last
    }
    for (Interpreter* interpreter : order) {
      py::ThreadStateActivation active(thread_state_for(*interpreter));
      // mod_wsgi's process_stopping comes first, while the interpreter is whole (its
      // subscribers may stop threads that atexit handlers would otherwise wait on).
      publish_process_stopping(interpreter->hooks, reason);
      // WSGIDestroyInterpreter Off: the interpreters are left as they are, atexit handlers
      // and all, as mod_wsgi leaves them (its way out of clean-ups that hang at exit).
      // subscribe_shutdown() callbacks above, mod_wsgi's own clean-up API, still run.
      if (!p.settings.destroy_interpreter) continue;
      py::Ref atexit = py::Ref::steal(PyImport_ImportModule("atexit"));
      py::Ref done = atexit ? py::Ref::steal(PyObject_CallMethod(atexit.get(), "_run_exitfuncs", nullptr)) : py::Ref();
      if (!done) {
        py::FetchedError error = py::fetch_error();
        log_exception(process_log(), Level::error, ids::kAtexitException,
                      "Exception running atexit callbacks of interpreter '" + interpreter->name + "'", error);
      }
      if (PyObject* out = PySys_GetObject("stdout")) flush_log_stream(out);
      if (PyObject* err = PySys_GetObject("stderr")) flush_log_stream(err);
    }
  } catch (const std::exception& e) {
    process_log().log(Level::error, ids::kInternalError, std::string("Python shutdown failed: ") + e.what());
  }
  // Deliberately no Py_Finalize / Py_EndInterpreter: waiting on app threads and module
  // teardown at exit is where embedded Python hangs or crashes. The process exits next.
}

}  // namespace gantry::wsgi
