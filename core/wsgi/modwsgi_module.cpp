// The `mod_wsgi` and `apache` built-in modules (modwsgi_module.hpp).
#include "wsgi/modwsgi_module.hpp"

#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/file_wrapper.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/process_metrics.hpp"
#include "wsgi/request_context.hpp"
#include "wsgi/request_interrupt.hpp"

namespace gantry::wsgi {
namespace {

constexpr const char* kCapsuleName = "gantry.interpreter";

// The module functions get their interpreter through `self`, a capsule.
Interpreter* interpreter_of(PyObject* self) {
  return static_cast<Interpreter*>(PyCapsule_GetPointer(self, kCapsuleName));
}

PyObject* append_callback(PyObject* list, PyObject* callback) {
  if (!PyCallable_Check(callback)) {
    PyErr_Format(PyExc_TypeError, "callback must be callable, not %.80s", Py_TYPE(callback)->tp_name);
    return nullptr;
  }
  if (PyList_Append(list, callback) < 0) return nullptr;
  return Py_NewRef(callback);  // so it works as a decorator (mod_wsgi 6.0)
}

PyObject* subscribe_events(PyObject* self, PyObject* callback) {
  Interpreter* interpreter = interpreter_of(self);
  return interpreter ? append_callback(interpreter->hooks.event_callbacks.get(), callback) : nullptr;
}

PyObject* subscribe_shutdown(PyObject* self, PyObject* callback) {
  Interpreter* interpreter = interpreter_of(self);
  return interpreter ? append_callback(interpreter->hooks.shutdown_callbacks.get(), callback) : nullptr;
}

PyObject* request_data(PyObject*, PyObject*) {
  return py::guarded<PyObject*>(nullptr, []() -> PyObject* {
    RequestContext* request = current_request();
    if (!request) {
      PyErr_SetString(PyExc_RuntimeError, "no active request for this thread");
      return nullptr;
    }
    PyObject* data = request->request_data();
    return data ? Py_NewRef(data) : nullptr;
  });
}

PyObject* process_metrics(PyObject*, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [] { return process_metrics_dict(python_settings().server); });
}

PyObject* request_metrics(PyObject*, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [] {
    const PythonSettings& settings = python_settings();
    return request_metrics_dict(settings.server, !settings.process_group.empty());
  });
}

PyObject* start_recording(PyObject*, PyObject*) {
  start_recording_metrics();
  Py_RETURN_NONE;
}

PyObject* server_metrics(PyObject*, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [] { return server_metrics_dict(python_settings().server); });
}

// PEP 562: attributes computed when read. active_requests is built from the running
// requests only when someone looks, so requests do not maintain a dict nobody reads.
PyObject* module_getattr(PyObject* self, PyObject* name) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    Interpreter* interpreter = interpreter_of(self);
    if (!interpreter) return nullptr;
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "active_requests") == 0) {
      return active_requests_of(*interpreter);
    }
    PyErr_Format(PyExc_AttributeError, "module 'mod_wsgi' has no attribute '%U'", name);
    return nullptr;
  });
}

PyMethodDef kFunctions[] = {
    {"subscribe_events", subscribe_events, METH_O,
     "subscribe_events(callback): callback(name, **event) for every event of this interpreter; returns callback."},
    {"subscribe_shutdown", subscribe_shutdown, METH_O,
     "subscribe_shutdown(callback): callback('process_stopping', shutdown_reason=...) once at an orderly "
     "process exit; returns callback."},
    {"request_data", request_data, METH_NOARGS, "The current request's scratch dict (RuntimeError outside one)."},
    {"process_metrics", process_metrics, METH_NOARGS, "Process-level request counts, times, CPU and memory."},
    {"request_metrics", request_metrics, METH_NOARGS,
     "Request timings since the previous call (the first call starts the interval and returns {})."},
    {"start_recording_metrics", start_recording, METH_NOARGS, "Start recording request timings (idempotent)."},
    {"server_metrics", server_metrics, METH_NOARGS, "The Apache scoreboard, or None in a daemon process."},
    {"__getattr__", module_getattr, METH_O, "Computed attributes: active_requests."},
    {nullptr, nullptr, 0, nullptr},
};

bool add_text(PyObject* module, const char* name, std::string_view value) {
  py::Ref text = py::Ref::steal(PyUnicode_DecodeLatin1(value.data(), static_cast<Py_ssize_t>(value.size()), nullptr));
  return text && PyModule_AddObjectRef(module, name, text.get()) == 0;
}

bool add_int(PyObject* module, const char* name, long value) { return PyModule_AddIntConstant(module, name, value) == 0; }

bool install(PyObject* module, const char* name) {
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  return PyDict_SetItemString(modules, name, module) == 0;
}

bool add_mod_wsgi_module(Interpreter& interpreter, const PythonSettings& settings) {
  py::Ref module = py::Ref::steal(PyModule_New("mod_wsgi"));
  py::Ref self = py::Ref::steal(PyCapsule_New(&interpreter, kCapsuleName, nullptr));
  py::Ref name = py::Ref::steal(PyUnicode_FromString("mod_wsgi"));
  py::Ref version = py::Ref::steal(
      Py_BuildValue("(iii)", kModWsgiVersion[0], kModWsgiVersion[1], kModWsgiVersion[2]));
  interpreter.hooks.event_callbacks = py::Ref::steal(PyList_New(0));
  interpreter.hooks.shutdown_callbacks = py::Ref::steal(PyList_New(0));
  if (!module || !self || !name || !version || !interpreter.hooks.event_callbacks ||
      !interpreter.hooks.shutdown_callbacks) {
    return false;
  }
  for (PyMethodDef* def = kFunctions; def->ml_name; ++def) {
    py::Ref fn = py::Ref::steal(PyCFunction_NewEx(def, self.get(), name.get()));
    if (!fn || PyModule_AddObjectRef(module.get(), def->ml_name, fn.get()) < 0) return false;
  }
  const ServerFacts& facts = settings.server;
  return PyModule_AddObjectRef(module.get(), "version", version.get()) == 0 &&
         add_text(module.get(), "process_group", settings.process_group) &&
         add_text(module.get(), "application_group", interpreter.name) &&
         add_int(module.get(), "maximum_processes", facts.maximum_processes) &&
         add_int(module.get(), "threads_per_process", facts.threads_per_process) &&
         PyModule_AddObjectRef(module.get(), "event_callbacks", interpreter.hooks.event_callbacks.get()) == 0 &&
         PyModule_AddObjectRef(module.get(), "shutdown_callbacks", interpreter.hooks.shutdown_callbacks.get()) == 0 &&
         PyModule_AddObjectRef(module.get(), "FileWrapper", reinterpret_cast<PyObject*>(&FileWrapperType)) == 0 &&
         add_request_timeout_class(module.get()) && install(module.get(), "mod_wsgi");
}

bool add_apache_module(const PythonSettings& settings) {
  const ServerFacts& facts = settings.server;
  py::Ref module = py::Ref::steal(PyModule_New("apache"));
  if (!module) return false;
  py::Ref version = version_tuple(facts.apache_version);
  return version && PyModule_AddObjectRef(module.get(), "version", version.get()) == 0 &&
         add_text(module.get(), "description", facts.description) &&
         add_text(module.get(), "build_date", facts.build_date) &&
         add_text(module.get(), "mpm_name", facts.mpm_name) &&
         add_int(module.get(), "maximum_processes", facts.mpm_processes) &&
         add_int(module.get(), "threads_per_process", facts.mpm_threads) && install(module.get(), "apache");
}

}  // namespace

bool add_builtin_modules(Interpreter& interpreter, const PythonSettings& settings) {
  return add_mod_wsgi_module(interpreter, settings) && add_apache_module(settings);
}

}  // namespace gantry::wsgi
