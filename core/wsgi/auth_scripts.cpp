// Calling allow_access / check_password / get_realm_hash / groups_for_user, and turning
// what they return into an AuthReply with mod_wsgi 4.9.4's rules:
//   check_password  True -> granted, False -> denied, None -> unknown (no such user),
//                   a str -> granted as that user name; anything else is an error.
//   get_realm_hash  None -> unknown; a str (latin-1) or bytes -> granted with that hash.
//   groups_for_user an iterable of str (latin-1) or bytes -> granted with those names.
//   allow_access    True -> granted, False -> denied, None -> unknown (no opinion).
// An exception, or a return value of another type, is logged with the script path and
// answered `error`; the server side decides what that means for the request (500 for the
// authn provider, a denial for authz and access: never a grant).
#include "wsgi/auth_scripts.hpp"

#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_stream.hpp"
#include "wsgi/log_target.hpp"
#include "wsgi/script_loader.hpp"

namespace gantry::wsgi {
namespace {

// Ids of docs/log-messages.md "Authentication and access (0401-0419)".
constexpr const char* kScriptException = "GANTRY0402";
constexpr const char* kBadReturnValue = "GANTRY0404";
constexpr const char* kFunctionMissing = "GANTRY0405";
constexpr const char* kAuthErrors = "GANTRY0412";  // what the script writes to wsgi.errors
constexpr const char* kInternal = "GANTRY0413";

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

py::Ref latin1(std::string_view text) {
  return py::Ref::steal(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}

// Bytes, or a str that encodes as latin-1, as the byte string Apache gets; false otherwise
// (no Python error left set).
bool byte_string(PyObject* value, std::string& out) {
  if (PyBytes_Check(value)) {
    out.assign(PyBytes_AS_STRING(value), static_cast<std::size_t>(PyBytes_GET_SIZE(value)));
    return true;
  }
  if (!PyUnicode_Check(value)) return false;
  py::Ref encoded = py::Ref::steal(PyUnicode_AsLatin1String(value));
  if (!encoded) {
    PyErr_Clear();
    return false;
  }
  out.assign(PyBytes_AS_STRING(encoded.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded.get())));
  return true;
}

// The dict the function gets: the server's subset of the request environ (all str), the
// version tuples as a request's environ has them, and wsgi.errors. No wsgi.input: these
// functions run before the request body may be read.
py::Ref auth_environ(std::span<const EnvEntry> entries, PyObject* errors) {
  py::Ref environ = py::Ref::steal(PyDict_New());
  if (!environ) return {};
  for (const EnvEntry& e : entries) {
    py::Ref value = e.key == "apache.version"             ? version_tuple(e.value)
                    : e.key == "mod_wsgi.script_reloading" ? py::Ref::steal(PyLong_FromLong(e.value == "1"))
                                                           : latin1(e.value);
    if (!value || PyDict_SetItemString(environ.get(), e.key.c_str(), value.get()) < 0) return {};
  }
  py::Ref version = py::Ref::steal(Py_BuildValue("(iii)", kModWsgiVersion[0], kModWsgiVersion[1], kModWsgiVersion[2]));
  if (!version || PyDict_SetItemString(environ.get(), "mod_wsgi.version", version.get()) < 0 ||
      PyDict_SetItemString(environ.get(), "wsgi.errors", errors) < 0)
    return {};
  return environ;
}

class AuthRun {
 public:
  AuthRun(const AuthQuery& query, const LogTarget& log) : query_(query), log_(log) {}

  AuthReply run(Interpreter& interpreter, std::span<const EnvEntry> entries) {
    ScriptTarget target;
    target.script_path = query_.script_path;
    target.application_group = query_.application_group;
    target.reload_on_change = query_.reload_on_change;
    py::Ref module;
    if (load_script(interpreter, target, log_, module) != Outcome::ok) return {};  // logged
    PyObject* function = PyDict_GetItemString(PyModule_GetDict(module.get()), auth_function_name(query_.call));
    if (!function) {
      log_.log(Level::error, kFunctionMissing,
               "WSGI authentication script " + quoted(query_.script_path) + " does not define " +
                   auth_function_name(query_.call) + "(), which " + directive() + " needs here");
      return {};
    }
    py::Ref keep_function = py::Ref::borrow(function);  // the module may be reloaded meanwhile

    py::Ref errors = py::Ref::steal(new_log_stream(log_.logger, nullptr, Level::error, kAuthErrors, "wsgi.errors"));
    if (!errors) return report_exception();
    struct Detach {
      PyObject* stream;
      ~Detach() { detach_log_stream(stream); }  // logs a pending partial line
    } detach{errors.get()};
    py::Ref environ = auth_environ(entries, errors.get());
    if (!environ) return report_exception();
    py::Ref first = latin1(query_.call == AuthCall::allow_access ? query_.argument : query_.user);
    py::Ref second = query_.call == AuthCall::check_password || query_.call == AuthCall::get_realm_hash
                         ? latin1(query_.argument)
                         : py::Ref();
    if (!first || (needs_second() && !second)) return report_exception();
    py::Ref result = py::Ref::steal(PyObject_CallFunctionObjArgs(
        keep_function.get(), environ.get(), first.get(), second ? second.get() : nullptr, nullptr));
    if (!result) return report_exception();
    return interpret(result.get());
  }

 private:
  bool needs_second() const {
    return query_.call == AuthCall::check_password || query_.call == AuthCall::get_realm_hash;
  }

  std::string directive() const {
    switch (query_.call) {
      case AuthCall::allow_access: return "WSGIAccessScript";
      case AuthCall::groups_for_user: return "WSGIAuthGroupScript";
      default: return "WSGIAuthUserScript";
    }
  }

  AuthReply report_exception() {
    py::FetchedError error = py::fetch_error();
    log_exception(log_, Level::error, kScriptException,
                  "Exception occurred processing WSGI script " + quoted(query_.script_path) + " (in " +
                      auth_function_name(query_.call) + "())",
                  error);
    return {};
  }

  AuthReply bad_value(PyObject* value, const char* expected) {
    log_.log(Level::error, kBadReturnValue,
             std::string(auth_function_name(query_.call)) + "() in WSGI script " + quoted(query_.script_path) +
                 " returned a value of type " + Py_TYPE(value)->tp_name + "; expected " + expected);
    return {};
  }

  AuthReply interpret(PyObject* result) {
    AuthReply reply;
    if (result == Py_None) {
      reply.answer = AuthAnswer::unknown;
      return reply;
    }
    switch (query_.call) {
      case AuthCall::allow_access:
      case AuthCall::check_password:
        if (result == Py_True || result == Py_False) {
          reply.answer = result == Py_True ? AuthAnswer::granted : AuthAnswer::denied;
          return reply;
        }
        if (query_.call == AuthCall::check_password && PyUnicode_Check(result)) {
          // The user name the request goes on with (mod_wsgi encodes it as UTF-8).
          Py_ssize_t size = 0;
          const char* name = PyUnicode_AsUTF8AndSize(result, &size);
          if (!name) return report_exception();
          reply.answer = AuthAnswer::granted;
          reply.values.emplace_back(name, static_cast<std::size_t>(size));
          return reply;
        }
        return bad_value(result, query_.call == AuthCall::allow_access ? "True, False or None"
                                                                        : "True, False, None or a user name (str)");
      case AuthCall::get_realm_hash: {
        std::string hash;
        if (!byte_string(result, hash)) return bad_value(result, "None or the hash as str (latin-1) or bytes");
        reply.answer = AuthAnswer::granted;
        reply.values.push_back(std::move(hash));
        return reply;
      }
      case AuthCall::groups_for_user: {
        py::Ref iterator = py::Ref::steal(PyObject_GetIter(result));
        if (!iterator) {
          PyErr_Clear();
          return bad_value(result, "an iterable of group names (str or bytes)");
        }
        while (py::Ref item = py::Ref::steal(PyIter_Next(iterator.get()))) {
          std::string name;
          if (!byte_string(item.get(), name))
            return bad_value(item.get(), "group names as str (latin-1) or bytes, in an iterable");
          reply.values.push_back(std::move(name));
        }
        if (PyErr_Occurred()) return report_exception();
        reply.answer = AuthAnswer::granted;
        return reply;
      }
    }
    return {};
  }

  const AuthQuery& query_;
  const LogTarget& log_;
};

}  // namespace

AuthReply run_auth_script(const AuthQuery& query, std::span<const EnvEntry> environ, Logger& log) noexcept {
  LogTarget target{nullptr, &log};
  try {
    if (!python_running()) {
      target.log(Level::error, kInternal,
                 "Cannot run WSGI script " + quoted(query.script_path) + ": Python is not initialised in this process");
      return {};
    }
    auto binding = bind_interpreter(query.application_group, target);
    if (!binding) return {};
    py::ThreadStateActivation active(binding->thread_state);
    AuthRun run(query, target);
    return run.run(*binding->interpreter, environ);
  } catch (const std::exception& e) {
    target.log(Level::error, kInternal, "Internal error running WSGI script " + quoted(query.script_path) + ": " + e.what());
  } catch (...) {
    target.log(Level::error, kInternal, "Internal error running WSGI script " + quoted(query.script_path));
  }
  return {};
}

}  // namespace gantry::wsgi
