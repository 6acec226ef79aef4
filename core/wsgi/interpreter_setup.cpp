// Per-interpreter setup. The WSGIRestrict* defaults (PythonSettings) are what mod_wsgi
// 4.9.4 does with no directive, checked against Debian's build:
//   WSGIRestrictStdin  Off -> sys.stdin is the process's own (reads give ''); On: OSError
//   WSGIRestrictStdout Off -> sys.stdout goes to the error log (restriction off since 3.0)
//   WSGIRestrictSignal On  -> signal.signal() from app code is ignored with a warning
#include "wsgi/interpreter_setup.hpp"

#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/log_ids.hpp"
#include "wsgi/log_stream.hpp"
#include "wsgi/modwsgi_module.hpp"

namespace gantry::wsgi {
namespace {

// WSGIPythonPath / python-path=: each entry goes through site.addsitedir(), as mod_wsgi
// does, so the .pth files there are processed (editable installs, namespace packages in
// a venv's site-packages); then everything that added - entries and their .pth
// directories, in order - moves to the front of sys.path (where mod_wsgi 4.9.4 puts it).
bool add_python_path(const std::vector<std::string>& entries) {
  if (entries.empty()) return true;
  auto sys_path = []() -> PyObject* {
    PyObject* path = PySys_GetObject("path");  // borrowed
    if (!path || !PyList_Check(path)) PyErr_SetString(PyExc_RuntimeError, "sys.path is missing or not a list");
    return path && PyList_Check(path) ? path : nullptr;
  };
  PyObject* path = sys_path();
  if (!path) return false;
  const Py_ssize_t before = PyList_GET_SIZE(path);
  py::Ref site = py::Ref::steal(PyImport_ImportModule("site"));
  py::Ref addsitedir = site ? py::Ref::steal(PyObject_GetAttrString(site.get(), "addsitedir")) : py::Ref();
  if (!addsitedir) return false;
  for (const std::string& entry : entries) {
    py::Ref dir = py::Ref::steal(PyUnicode_DecodeFSDefaultAndSize(entry.data(), static_cast<Py_ssize_t>(entry.size())));
    py::Ref done = dir ? py::Ref::steal(PyObject_CallOneArg(addsitedir.get(), dir.get())) : py::Ref();
    if (!done) return false;
  }
  path = sys_path();  // a .pth import line may have replaced it
  if (!path) return false;
  const Py_ssize_t after = PyList_GET_SIZE(path);
  if (after <= before) return true;
  py::Ref added = py::Ref::steal(PyList_GetSlice(path, before, after));
  return added && PyList_SetSlice(path, before, after, nullptr) == 0 && PyList_SetSlice(path, 0, 0, added.get()) == 0;
}

bool install_stdio(const PythonSettings& settings) {
  py::Ref out = settings.restrict_stdout
                    ? py::Ref::steal(new_restricted_stream("sys.stdout", "WSGIRestrictStdout"))
                    : py::Ref::steal(new_log_stream(settings.logger, nullptr, Level::error, ids::kAppStdout, "<stdout>"));
  py::Ref err = py::Ref::steal(new_log_stream(settings.logger, nullptr, Level::error, ids::kAppStderr, "<stderr>"));
  if (!out || !err) return false;
  if (PySys_SetObject("stdout", out.get()) < 0 || PySys_SetObject("stderr", err.get()) < 0) return false;
  if (settings.restrict_stdin) {
    py::Ref in = py::Ref::steal(new_restricted_stream("sys.stdin", "WSGIRestrictStdin"));
    if (!in || PySys_SetObject("stdin", in.get()) < 0) return false;
  }
  return true;
}

// signal.signal() replacement: logs who tried and returns the handler, so the caller
// carries on as if it had worked (what mod_wsgi does).
PyObject* intercepted_signal(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    if (nargs != 2) {
      PyErr_Format(PyExc_TypeError, "signal() takes exactly 2 arguments (%zd given)", nargs);
      return nullptr;
    }
    std::string where = "unknown location";
    if (PyFrameObject* frame = PyEval_GetFrame()) {  // borrowed
      py::Ref code = py::Ref::steal(reinterpret_cast<PyObject*>(PyFrame_GetCode(frame)));
      py::Ref file = code ? py::Ref::steal(PyObject_GetAttrString(code.get(), "co_filename")) : py::Ref();
      const char* file_name = file ? PyUnicode_AsUTF8(file.get()) : nullptr;
      if (!file_name) PyErr_Clear();
      where = std::string(file_name ? file_name : "?") + ", line " + std::to_string(PyFrame_GetLineNumber(frame));
    }
    py::Ref number = py::Ref::steal(PyObject_Str(args[0]));
    const char* number_text = number ? PyUnicode_AsUTF8(number.get()) : nullptr;
    if (!number_text) PyErr_Clear();
    process_log().log(Level::warning, ids::kSignalIgnored,
                      std::string("Callback registration for signal ") + (number_text ? number_text : "?") +
                          " ignored (called from " + where +
                          "): WSGIRestrictSignal is On; set 'WSGIRestrictSignal Off' to let applications install "
                          "signal handlers");
    return Py_NewRef(args[1]);
  });
}

PyMethodDef intercepted_signal_def = {
    "signal", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(intercepted_signal)), METH_FASTCALL,
    "signal.signal() as restricted by WSGIRestrictSignal: the handler is not installed."};

bool restrict_signal() {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("signal"));
  if (!module) return false;
  py::Ref fn = py::Ref::steal(PyCFunction_New(&intercepted_signal_def, nullptr));
  return fn && PyObject_SetAttrString(module.get(), "signal", fn.get()) == 0;
}

// threading records the thread that first imports it as the interpreter's main thread.
// Imported here, on the thread that creates the interpreter (for %{GLOBAL}: the one that
// started Python), so threading.main_thread() is not whichever request thread happened
// to import threading first. Matches mod_wsgi 4.9.4 (checked with the event MPM: its
// %{GLOBAL} main_thread() is the child's main thread, never a request thread).
bool import_threading() {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("threading"));
  return static_cast<bool>(module);
}

}  // namespace

bool setup_interpreter(Interpreter& interpreter, const PythonSettings& settings) {
  // Every step runs even if an earlier one failed: a missing python-path entry should
  // not also leave sys.stdout unredirected.
  bool ok = true;
  auto step = [&](const char* what, bool done) {
    if (done) return;
    ok = false;
    py::FetchedError error = py::fetch_error();
    log_exception(process_log(), Level::error, ids::kInterpreterSetupFailed,
                  std::string("Failed to ") + what + " in interpreter '" + interpreter.name + "'", error);
  };
  step("import threading", import_threading());
  step("intern the environ keys", interpreter.keys.init());
  step("add the python-path entries to sys.path", add_python_path(settings.python_path));
  step("install sys.stdout/sys.stderr/sys.stdin replacements", install_stdio(settings));
  step("register the log streams with the io ABCs", register_log_stream_abcs());
  step("restrict signal.signal()", !settings.restrict_signal || restrict_signal());
  step("create the mod_wsgi and apache modules", add_builtin_modules(interpreter, settings));
  return ok;
}

}  // namespace gantry::wsgi
