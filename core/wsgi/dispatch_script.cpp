// WSGIDispatchScript: load the script in its interpreter, build the environ mod_wsgi gives
// it (the CGI variables, wsgi.errors, mod_wsgi.process_group "" and
// mod_wsgi.application_group naming the dispatch script's own interpreter, no
// mod_wsgi.callable_object) and ask each of its functions that exists.
#include "wsgi/dispatch_script.hpp"

#include <array>
#include <optional>
#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_stream.hpp"
#include "wsgi/script_loader.hpp"

namespace gantry::wsgi {
namespace {

// docs/log-messages.md, "Trusted proxies, dispatch and handler scripts (0421-0439)".
constexpr const char* kDispatchException = "GANTRY0422";
constexpr const char* kDispatchNotRunning = "GANTRY0423";
constexpr const char* kDispatchErrors = "GANTRY0424";
constexpr const char* kDispatchInternal = "GANTRY0425";
constexpr const char* kDispatchNotLoaded = "GANTRY0427";

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

py::Ref latin1(std::string_view s) {
  return py::Ref::steal(PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr));
}

bool set(PyObject* dict, const char* key, PyObject* value) {
  return value && PyDict_SetItemString(dict, key, value) == 0;
}

py::Ref dispatch_environ(std::span<const EnvEntry> cgi, std::string_view group, PyObject* errors) {
  py::Ref environ = py::Ref::steal(PyDict_New());
  if (!environ) return {};
  for (const EnvEntry& e : cgi) {
    py::Ref key = latin1(e.key);
    py::Ref value = latin1(e.value);
    if (!key || !value || PyDict_SetItem(environ.get(), key.get(), value.get()) < 0) return {};
  }
  // The context the dispatch script itself runs in, not the request's target.
  if (!set(environ.get(), "mod_wsgi.process_group", latin1("").get()) ||
      !set(environ.get(), "mod_wsgi.application_group", latin1(group).get()) ||
      !set(environ.get(), "wsgi.errors", errors))
    return {};
  if (PyDict_DelItemString(environ.get(), "mod_wsgi.callable_object") < 0) PyErr_Clear();
  return environ;
}

// One of the script's functions: nullopt result if it is missing or returned None, the
// string otherwise; false with a Python error pending if it failed.
bool ask(PyObject* module, const char* function, const char* what, PyObject* environ,
         std::optional<std::string>& answer) {
  PyObject* namespace_dict = PyModule_GetDict(module);  // borrowed
  py::Ref callable = py::Ref::borrow(namespace_dict ? PyDict_GetItemString(namespace_dict, function) : nullptr);
  if (!callable) return true;
  py::Ref result = py::Ref::steal(PyObject_CallOneArg(callable.get(), environ));
  if (!result) return false;
  if (result.get() == Py_None) return true;
  py::Ref bytes;
  if (PyUnicode_Check(result.get())) {
    bytes = py::Ref::steal(PyUnicode_AsLatin1String(result.get()));
    if (!bytes) {
      PyErr_Format(PyExc_TypeError, "%s returned by %s() must be a byte string or str of latin-1 characters",
                   what, function);
      return false;
    }
  } else if (PyBytes_Check(result.get())) {
    bytes = result;
  } else {
    PyErr_Format(PyExc_TypeError, "%s returned by %s() must be a string or None, not %.200s", what, function,
                 Py_TYPE(result.get())->tp_name);
    return false;
  }
  answer.emplace(PyBytes_AS_STRING(bytes.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.get())));
  return true;
}

// With the script's interpreter current and the GIL held.
Outcome dispatch(Interpreter& interpreter, const ScriptTarget& script, RequestChannel& channel,
                 const LogTarget& log, const ScriptStat* stat, DispatchChoice& choice) {
  py::Ref module;
  if (load_script(interpreter, script, log, module, stat) != Outcome::ok) {
    // mod_wsgi would carry on with the configured groups; a routing script that is not
    // there must not silently route everything elsewhere.
    log.log(Level::error, kDispatchNotLoaded,
            "WSGI dispatch script " + quoted(script.script_path) + " could not be loaded (see above): request refused (500)");
    return Outcome::server_error;
  }
  py::Ref errors = py::Ref::steal(new_log_stream(log.logger, &channel, Level::error, kDispatchErrors, "wsgi.errors"));
  // Whatever the script kept of wsgi.errors must not reach this request's channel later.
  struct Detach {
    PyObject* stream;
    ~Detach() {
      if (stream) detach_log_stream(stream);
    }
  } detach{errors.get()};
  py::Ref environ = errors ? dispatch_environ(channel.environ(), script.application_group, errors.get()) : py::Ref{};
  const bool ok = environ && ask(module.get(), "process_group", "process group", environ.get(), choice.process_group) &&
                  ask(module.get(), "application_group", "application group", environ.get(),
                      choice.application_group) &&
                  ask(module.get(), "callable_object", "callable object", environ.get(), choice.callable_object);
  if (ok) return Outcome::ok;
  py::FetchedError error = py::fetch_error();
  log_exception(log, Level::error, kDispatchException,
                "Exception occurred processing WSGI dispatch script " + quoted(script.script_path), error);
  return Outcome::server_error;
}

}  // namespace

Outcome run_dispatch(const ScriptTarget& script, RequestChannel& channel, DispatchChoice* choice) noexcept {
  LogTarget log{&channel, python_settings().logger};
  try {
    if (!python_running()) {
      log.log(Level::error, kDispatchNotRunning,
              "Cannot run WSGI dispatch script " + quoted(script.script_path) +
                  ": Python is not initialised in this process");
      return Outcome::server_error;
    }
    std::optional<ScriptStat> stat;
    if (script.reload_on_change) stat = stat_script(script);
    auto binding = bind_interpreter(script.application_group, log);
    if (!binding) return Outcome::server_error;
    py::ThreadStateActivation active(binding->thread_state);
    return dispatch(*binding->interpreter, script, channel, log, stat ? &*stat : nullptr, *choice);
  } catch (const std::exception& e) {
    log.log(Level::error, kDispatchInternal,
            "Internal error running WSGI dispatch script " + quoted(script.script_path) + ": " + e.what());
  } catch (...) {
    log.log(Level::error, kDispatchInternal, "Internal error running WSGI dispatch script " + quoted(script.script_path));
  }
  return Outcome::server_error;
}

}  // namespace gantry::wsgi
