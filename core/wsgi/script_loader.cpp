// WSGI script loading and reloading.
#include "wsgi/script_loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "gantry/md5.hpp"
#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/scoped_fd.hpp"
#include "wsgi/log_ids.hpp"

namespace gantry::wsgi {
namespace {

// Set once before the first load (daemon start-up), then only read.
PythonApi::ScriptLoadObserver load_observer = nullptr;
void* load_observer_context = nullptr;

bool same_time(const timespec& a, const timespec& b) noexcept {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Reads the whole file without the GIL. False with errno set on failure.
bool read_file(const std::string& path, std::string& out) {
  py::GilRelease unlocked;
  int error = 0;
  {
    const ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
    char chunk[65536];
    for (;;) {
      const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error = errno;
      if (n <= 0) break;
      out.append(chunk, static_cast<std::size_t>(n));
    }
  }  // closed here, before errno is set for the caller
  if (error == 0) return true;
  errno = error;
  return false;
}

// "_mod_wsgi_" + md5(path).hexdigest(): mod_wsgi's module naming, so code that inspects
// sys.modules or pickles by module name sees the same names as under mod_wsgi. The digest
// is computed in C++: importing hashlib for it would map libcrypto into every process.
py::Ref module_name(const std::string& path) {
  const std::string name = "_mod_wsgi_" + md5_hex(path);
  return py::Ref::steal(PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size())));
}

Outcome log_load_failure(const LogTarget& log, const std::string& path) {
  py::FetchedError error = py::fetch_error();
  log_exception(log, Level::error, ids::kScriptLoadFailed, "Failed to load WSGI script " + quoted(path), error);
  return Outcome::server_error;
}

// Compiles and executes the script as a fresh module. GIL held.
Outcome execute_script(Interpreter& interpreter, const std::string& path, const timespec& mtime,
                       const LogTarget& log, py::Ref& module) {
  std::string source;
  if (!read_file(path, source)) {
    log.log(Level::error, ids::kScriptReadFailed,
            "Unable to read WSGI script " + quoted(path) + ": " + std::strerror(errno) +
                " (check the file's permissions for the server's user)");
    return Outcome::server_error;
  }
  py::Ref name = module_name(path);
  py::Ref file_name = py::Ref::steal(
      PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size())));
  if (!name || !file_name) return log_load_failure(log, path);

  // A stale module of the same name would be re-executed in place; start clean instead.
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  if (PyDict_GetItemWithError(modules, name.get())) {
    if (PyDict_DelItem(modules, name.get()) < 0) return log_load_failure(log, path);
  } else if (PyErr_Occurred()) {
    return log_load_failure(log, path);
  }

  // bytes source: the compiler honours a PEP 263 coding cookie.
  py::Ref code = py::Ref::steal(Py_CompileStringObject(source.c_str(), file_name.get(), Py_file_input, nullptr, -1));
  if (!code) return log_load_failure(log, path);
  py::Ref loaded = py::Ref::steal(PyImport_ExecCodeModuleObject(name.get(), code.get(), file_name.get(), nullptr));
  if (!loaded) return log_load_failure(log, path);
  // mod_wsgi exposes the load-time mtime as __mtime__, an int of microseconds (apr_time_t).
  py::Ref stamp = py::Ref::steal(
      PyLong_FromLongLong(static_cast<long long>(mtime.tv_sec) * 1000000 + mtime.tv_nsec / 1000));
  if (!stamp || PyObject_SetAttrString(loaded.get(), "__mtime__", stamp.get()) < 0) PyErr_Clear();

  interpreter.scripts.insert_or_assign(path, LoadedScript{loaded, mtime, stamp});
  module = std::move(loaded);
  return Outcome::ok;
}

// The rules mod_wsgi applies with WSGIScriptReloading On to a module whose file did not
// change, on every request: a module whose __mtime__ is gone (or no longer the load-time
// value) is reloaded, and so is one whose module-level reload_required(resource) returns
// true. An exception in reload_required() is logged with its traceback and does not
// reload. GIL held; runs application code, so the script cache may change meanwhile.
bool module_wants_reload(const LoadedScript& loaded, const std::string& path, const LogTarget& log) {
  PyObject* dict = PyModule_GetDict(loaded.module.get());  // borrowed
  PyObject* stamp = PyDict_GetItemString(dict, "__mtime__");  // borrowed
  if (!stamp || !loaded.stamp) return true;
  if (stamp != loaded.stamp.get() && PyObject_RichCompareBool(stamp, loaded.stamp.get(), Py_EQ) != 1) {
    PyErr_Clear();
    return true;
  }
  py::Ref hook = py::Ref::borrow(PyDict_GetItemString(dict, "reload_required"));
  if (!hook) return false;
  py::Ref resource = py::Ref::steal(
      PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size())));
  py::Ref answer = resource ? py::Ref::steal(PyObject_CallOneArg(hook.get(), resource.get())) : py::Ref();
  int wanted = answer ? PyObject_IsTrue(answer.get()) : -1;
  if (wanted < 0) {
    py::FetchedError error = py::fetch_error();
    log_exception(log, Level::error, ids::kReloadCheckFailed,
                  "Exception in reload_required() of WSGI script " + quoted(path) + "; the loaded module stays in use",
                  error);
    return false;
  }
  return wanted == 1;
}

// The lock of one script path in this interpreter, created on first use. GIL held (which
// guards the map); the lock outlives the map entry for whoever holds a copy.
std::shared_ptr<std::mutex> load_lock_for(Interpreter& interpreter, const std::string& path) {
  auto it = interpreter.load_locks.find(path);
  if (it == interpreter.load_locks.end()) {
    it = interpreter.load_locks.emplace(path, std::make_shared<std::mutex>()).first;
  }
  return it->second;
}

}  // namespace

ScriptStat stat_script(const ScriptTarget& target) noexcept {
  ScriptStat result;
  try {
    const std::string path(target.script_path);
    struct stat st {};
    result.rc = ::stat(path.c_str(), &st);
    result.error = errno;
    result.mtime = st.st_mtim;
  } catch (...) {
    result.rc = -1;
    result.error = ENOMEM;
  }
  return result;
}

Outcome load_script(Interpreter& interpreter, const ScriptTarget& target, const LogTarget& log, py::Ref& module,
                    const ScriptStat* known) {
  auto cached = interpreter.scripts.find(target.script_path);
  if (cached != interpreter.scripts.end() && !target.reload_on_change) {
    module = cached->second.module;
    return Outcome::ok;
  }

  std::string path(target.script_path);
  ScriptStat fresh;
  if (known == nullptr) {
    py::GilRelease unlocked;
    fresh = stat_script(target);
    known = &fresh;
  }
  const int rc = known->rc;
  const int stat_errno = known->error;
  struct stat st {};
  st.st_mtim = known->mtime;
  if (rc != 0) {
    // For a request the server already checked the file (GANTRY0041, the one line a plain
    // missing script gets); reaching this means the file went away since, or this process
    // (a daemon's user) sees it differently - or it is a preload, which nothing checked.
    log.log(Level::error, ids::kScriptReadFailed,
            "Unable to stat WSGI script " + quoted(path) + ": " + std::strerror(stat_errno) +
                " (check the path and the permissions of the file and its directories for the user this"
                " process runs as)");
    return Outcome::not_found;
  }
  cached = interpreter.scripts.find(path);  // the map may have changed while the GIL was dropped
  py::Ref stale;  // the module the checks below turned down, if the file itself did not change
  if (cached != interpreter.scripts.end() && same_time(cached->second.mtime, st.st_mtim)) {
    LoadedScript current = cached->second;  // the checks run app code: the map may change meanwhile
    if (!module_wants_reload(current, path, log)) {
      module = std::move(current.module);
      return Outcome::ok;
    }
    stale = std::move(current.module);
  }

  // Load or reload, one thread at a time per (group, script). Wait for the lock without
  // the GIL: the thread loading runs module code that releases and re-takes it, and
  // holding the GIL while blocked here would deadlock with it.
  std::shared_ptr<std::mutex> load_lock = load_lock_for(interpreter, path);
  std::unique_lock lock(*load_lock, std::defer_lock);
  if (!lock.try_lock()) {
    py::GilRelease unlocked;
    lock.lock();
  }
  cached = interpreter.scripts.find(path);  // another thread may have done it meanwhile
  if (cached != interpreter.scripts.end() && same_time(cached->second.mtime, st.st_mtim) &&
      cached->second.module.get() != stale.get()) {
    module = cached->second.module;
    return Outcome::ok;
  }
  const bool reloading = cached != interpreter.scripts.end();
  if (reloading) interpreter.scripts.erase(cached);
  log.log(Level::info, reloading ? ids::kScriptReloading : ids::kScriptLoading,
          std::string(reloading ? "Reloading" : "Loading") + " WSGI script " + quoted(path) +
              " into application group '" + interpreter.name + "'");
  const Outcome outcome = execute_script(interpreter, path, st.st_mtim, log, module);
  // Only real attempts are reported (a cached module is no news): a daemon process restarts
  // when its first attempt failed and none succeeded within startup-timeout.
  if (load_observer) load_observer(load_observer_context, outcome == Outcome::ok, path);
  return outcome;
}

void set_script_load_observer(PythonApi::ScriptLoadObserver observer, void* context) noexcept {
  load_observer = observer;
  load_observer_context = context;
}

Outcome find_application(PyObject* module, const ScriptTarget& target, const LogTarget& log,
                         py::Ref& application) {
  PyObject* dict = PyModule_GetDict(module);  // borrowed
  py::Ref name = py::Ref::steal(
      PyUnicode_FromStringAndSize(target.callable.data(), static_cast<Py_ssize_t>(target.callable.size())));
  PyObject* found = name && dict ? PyDict_GetItemWithError(dict, name.get()) : nullptr;  // borrowed
  if (!found) {
    PyErr_Clear();
    log.log(Level::error, ids::kCallableMissing,
            "Target WSGI script " + quoted(target.script_path) + " does not contain WSGI application " +
                quoted(target.callable) + " (check WSGICallableObject / callable-object=)");
    return Outcome::server_error;
  }
  application = py::Ref::borrow(found);
  return Outcome::ok;
}

}  // namespace gantry::wsgi
