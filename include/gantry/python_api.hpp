#pragma once
// The boundary between mod_gantry.so (no libpython) and mod_gantry_python.so (links
// libpython). A process that will run Python dlopen()s the second object and calls
// gantry_python_api() for this table; nothing else crosses. Both objects are built from one
// tree by one compiler, so C++ types are fine here; GANTRY_PYTHON_ABI guards against a
// stale sibling .so.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/auth_check.hpp"
#include "gantry/channel.hpp"
#include "gantry/log.hpp"
#include "gantry/server_facts.hpp"

namespace gantry {

// 2: PythonSettings.server, shutdown_for; 3: run_auth_script; 4: run_dispatch;
// 5: fork_process, freeze_heap, process_started (daemon group templates).
inline constexpr std::uint32_t kPythonAbi = 5;
inline constexpr const char* kPythonObjectName = "mod_gantry_python.so";
inline constexpr const char* kPythonEntrySymbol = "gantry_python_api";

// Process-wide Python settings (WSGIPython* directives, or a daemon group's options).
// Daemon processes receive them in the spawner's launch message (gantry/spawn_protocol.hpp,
// filled in module/daemon_supervisor.cpp, read in module/daemon_process.cpp): a field added
// here must be carried there too, or daemons silently get its default.
struct PythonSettings {
  std::string python_home;                // WSGIPythonHome / python-home=; empty = default
  std::vector<std::string> python_path;   // WSGIPythonPath / python-path=, in order
  int optimize = 0;                       // WSGIPythonOptimize (0, 1, 2)
  // Defaults as mod_wsgi 4.9.4 really behaves with no directive (checked against Debian's
  // build): sys.stdin and sys.stdout usable (stdout into the error log), signal() ignored.
  bool restrict_stdin = false;            // WSGIRestrictStdin
  bool restrict_stdout = false;           // WSGIRestrictStdout
  bool restrict_signal = true;            // WSGIRestrictSignal
  std::string process_group;              // "" in embedded mode
  Logger* logger = nullptr;               // process-level log sink, outlives Python
  ServerFacts server;                     // the `apache` module, mod_wsgi.maximum_processes...
  // Start-up settings applied to PyConfig before Python starts (core/wsgi/python_config.cpp).
  long long hash_seed = -1;               // WSGIPythonHashSeed: -1 = random, else 0..4294967295
  bool dont_write_bytecode = false;       // WSGIDontWriteBytecode On
  std::vector<std::string> warn_options;  // WSGIPythonWarnings, in order (sys.warnoptions)
  double switch_interval = 0;             // WSGISwitchInterval / switch-interval=; 0 = Python's
  bool destroy_interpreter = true;        // WSGIDestroyInterpreter Off: no atexit handlers at exit
};

// What to run for one request (or to preload).
struct ScriptTarget {
  std::string_view script_path;        // absolute path of the WSGI script file
  std::string_view application_group;  // resolved name; "" means the main interpreter (%{GLOBAL})
  std::string_view callable = "application";  // WSGICallableObject
  bool reload_on_change = false;       // WSGIScriptReloading On: re-import when mtime changes
};

// What a WSGIDispatchScript chose for one request: each set field replaces the configured
// value (unexpanded: %{GLOBAL}, %{ENV:...} as the directives take them); an unset one (the
// function is missing or returned None) keeps it.
struct DispatchChoice {
  std::optional<std::string> process_group;
  std::optional<std::string> application_group;
  std::optional<std::string> callable_object;
};

// Outcome (how a request ended) lives in channel.hpp: the daemon protocol carries it too.

struct PythonApi {
  std::uint32_t abi;
  // Starts Python in this process (once; later calls are no-ops). False on failure (logged).
  bool (*initialize)(const PythonSettings& settings);
  // Loads a script into its application group ahead of any request (WSGIImportScript,
  // WSGIScriptAlias with both process-group= and application-group=). False on failure.
  bool (*import_script)(const ScriptTarget& target);
  // Runs one request through the WSGI app. Never throws.
  Outcome (*run_request)(const ScriptTarget& target, RequestChannel& channel);
  // In a child forked from a parent that had initialised Python (WSGILazyInitialization Off).
  void (*after_fork_child)();
  // At process exit: runs atexit handlers; does not wait on sub-interpreter teardown.
  void (*shutdown)();
  // interrupt-timeout (daemon): raises mod_wsgi.RequestTimeout in the request thread with
  // this pthread id and writes its Python stack to *stack; false if it runs no Python.
  // Takes the GIL, so it may block: call it from a thread of its own.
  bool (*interrupt_thread)(unsigned long thread_id, std::string* stack);
  // startup-timeout (daemon): from now on, `observer(context, loaded, script_path)` is
  // called after each attempt of this process to load (or reload) a WSGI script file:
  // loaded = false when reading, compiling or executing it failed (logged as usual). Called
  // on the loading thread with the GIL held: it must be quick and must not take the GIL.
  // Set before any script is loaded (preloads included); null stops the reports.
  using ScriptLoadObserver = void (*)(void* context, bool loaded, std::string_view script_path);
  void (*observe_script_loads)(ScriptLoadObserver observer, void* context);
  // shutdown() for an orderly exit whose cause is known: first mod_wsgi's process_stopping
  // event (subscribe_events/subscribe_shutdown callbacks, with `reason` as shutdown_reason:
  // "maximum_requests", "shutdown_signal", ...; "" when unknown, as in Apache children), then
  // the atexit handlers. Once per process; later calls (and shutdown()) are no-ops.
  void (*shutdown_for)(std::string_view reason);
  // WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript: loads the script into its
  // application group (the loader requests use) and calls query.call's function with a
  // dict built from `environ` (strings; no wsgi.input) plus wsgi.errors and the version
  // tuples. Exceptions and wrong return types are logged to `log` (with the script path
  // and the traceback) and answered AuthAnswer::error. Never throws; takes the GIL itself.
  AuthReply (*run_auth_script)(const AuthQuery& query, std::span<const EnvEntry> environ, Logger& log);
  // WSGIDispatchScript: loads `script` (script_path, application_group = the interpreter it
  // runs in, reload_on_change) and calls its process_group(), application_group() and
  // callable_object() with an environ made from channel.environ() (plus wsgi.errors), filling
  // *choice. Only environ() and log() of `channel` are used. ok, or server_error when the
  // script could not be loaded, raised or returned something that is not a string (logged,
  // with the script's path). Never throws; call without the GIL.
  Outcome (*run_dispatch)(const ScriptTarget& script, RequestChannel& channel, DispatchChoice* choice);
  // A daemon group's template (docs/template.md): forks this single-threaded process as
  // os.fork() would (os.register_at_fork handlers, PyOS_AfterFork_Child in the child), with
  // `clone(context)` doing the fork itself; returns what it returned (0 in the child).
  int (*fork_process)(int (*clone)(void* context), void* context);
  // gc.collect() and gc.freeze() before the template forks; the number of objects frozen.
  std::size_t (*freeze_heap)();
  // Publishes Gantry's process_started event (docs/template.md) in every interpreter: a
  // daemon process is about to accept requests; `template_pid` is the template it was forked
  // from (0: none), `preloaded` says the template imported the preload scripts.
  void (*process_started)(long template_pid, bool preloaded);
};

}  // namespace gantry

extern "C" const gantry::PythonApi* gantry_python_api();
