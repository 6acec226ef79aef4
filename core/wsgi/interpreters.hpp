#pragma once
#include <sys/types.h>

#include <cstddef>
// Python in this process: initialisation, the application-group -> interpreter map, and
// the thread states that let any server thread run code in any interpreter.
//
// Model (CPython 3.11, one GIL shared by all interpreters):
//   - "" (%{GLOBAL}) is the main interpreter; every other group gets a sub-interpreter
//     (Py_NewInterpreter), created on first use and kept for the life of the process.
//   - Each OS thread owns one PyThreadState per interpreter it has run code in, created
//     the first time (PyThreadState_New) and cached thread_local. A request makes it
//     current with py::ThreadStateActivation; nothing is created or destroyed per request.
//     They are never freed, not even when the thread exits (see ThreadStates).
//   - A thread's main-interpreter state is always created first so the PyGILState API
//     (used by some C extensions) finds the main interpreter, as it expects.
//   - Outside activations no thread holds the GIL: initialize() drops it before returning.
#include <Python.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gantry/python_api.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/log_target.hpp"
#include "wsgi/request_events.hpp"
#include "wsgi/script_cache.hpp"

namespace gantry::wsgi {

struct Interpreter {
  std::string name;             // application group; "" = main interpreter
  PyInterpreterState* state = nullptr;
  // The state Py_NewInterpreter made (the interpreter's built-in initial one). Never
  // deleted: 3.11.2 cannot hand out an interpreter's initial state again once it was.
  PyThreadState* initial_thread_state = nullptr;
  // Below: only touched with the GIL held in this interpreter.
  EnvironKeys keys;
  EventHooks hooks;  // mod_wsgi.event_callbacks / shutdown_callbacks of this interpreter
  ScriptCache scripts;
  // One lock per script path: a script is (re)loaded by one thread at a time while other
  // scripts of the group load in parallel. The map is only touched with the GIL held; a
  // lock itself is only waited for with the GIL released (see script_loader.cpp).
  std::unordered_map<std::string, std::shared_ptr<std::mutex>, StringHash, std::equal_to<>> load_locks;
};

struct Binding {
  Interpreter* interpreter;
  PyThreadState* thread_state;  // the calling thread's, for that interpreter
};

// initialize(): false on failure (logged). Later calls are no-ops returning the first result.
bool initialize_python(const PythonSettings& settings) noexcept;
// True between a successful initialize() and shutdown().
bool python_running() noexcept;
const PythonSettings& python_settings() noexcept;
LogTarget process_log() noexcept;

// The interpreter for an application group and this thread's state in it, creating
// either on first use. Call WITHOUT holding the GIL. nullopt on failure (logged).
std::optional<Binding> bind_interpreter(std::string_view group, const LogTarget& log) noexcept;

void after_fork_child_python() noexcept;
// A daemon group's template (docs/template.md): forks this process through `clone` (which
// returns as fork() does) the way os.fork() would - os.register_at_fork handlers run, the
// child gets PyOS_AfterFork_Child - with the calling thread's main thread state. The caller
// must be the only thread. Returns clone's result (-1 with errno on failure).
pid_t fork_python_process(pid_t (*clone)(void*), void* context) noexcept;
// publish_process_started() in every interpreter of this process.
void process_started_python(long template_pid, bool preloaded) noexcept;
// gc.collect() then gc.freeze(): what the template loaded stays out of later collections, so
// the collector does not write to the pages the group's processes share. Objects frozen.
std::size_t freeze_python_heap() noexcept;
void shutdown_python() noexcept;
// shutdown_python() after publishing process_stopping (shutdown_reason = `reason`) in every
// interpreter. Once per process.
void shutdown_python_for(std::string_view reason) noexcept;

}  // namespace gantry::wsgi
