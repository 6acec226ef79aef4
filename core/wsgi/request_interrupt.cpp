#include "request_interrupt.hpp"

#include "gantry/py/cpython_internals.hpp"
#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"

namespace gantry::wsgi {
namespace {

// "  File ..., line N, in f\n    code\n" for every frame of `frame`'s stack, oldest first.
std::string format_stack(PyFrameObject* frame) {
  PyObject* traceback = PyImport_ImportModule("traceback");
  if (!traceback) {
    PyErr_Clear();
    return "(stack unavailable)";
  }
  PyObject* lines = PyObject_CallMethod(traceback, "format_stack", "O", reinterpret_cast<PyObject*>(frame));
  Py_DECREF(traceback);
  std::string text;
  if (lines && PyList_Check(lines)) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); ++i)
      if (const char* line = PyUnicode_AsUTF8(PyList_GET_ITEM(lines, i))) text += line;
  }
  Py_XDECREF(lines);
  if (PyErr_Occurred()) PyErr_Clear();
  return text.empty() ? "(no Python frames)" : text;
}

}  // namespace

bool add_request_timeout_class(PyObject* module) {
  PyObject* type = PyErr_NewExceptionWithDoc(
      "mod_wsgi.RequestTimeout",
      "Raised in a request thread that outlived request-timeout (interrupt-timeout set), or by the "
      "application itself to give up on a request: answered 504. A BaseException, as in mod_wsgi 6, "
      "so that `except Exception:` in the application does not swallow it.",
      PyExc_BaseException, nullptr);
  if (!type) return false;
  return PyModule_AddObject(module, "RequestTimeout", type) == 0 || (Py_DECREF(type), false);
}

bool is_request_timeout(PyObject* exception_type) noexcept {
  if (!exception_type) return false;
  py::ErrorScope keep;
  PyObject* modules = PyImport_GetModuleDict();                                        // borrowed
  PyObject* mod_wsgi = modules ? PyDict_GetItemString(modules, "mod_wsgi") : nullptr;  // borrowed
  py::Ref type = mod_wsgi ? py::Ref::steal(PyObject_GetAttrString(mod_wsgi, "RequestTimeout")) : py::Ref();
  const bool matches = type && PyErr_GivenExceptionMatches(exception_type, type.get());
  PyErr_Clear();
  return matches;
}

bool interrupt_thread(unsigned long thread_id, std::string* stack) noexcept {
  if (!Py_IsInitialized()) return false;
  PyGILState_STATE gil = PyGILState_Ensure();  // the main interpreter, on this thread
  PyThreadState* own = PyThreadState_Get();
  PyThreadState* target = nullptr;
  for (PyInterpreterState* interp = PyInterpreterState_Head(); interp && !target;
       interp = PyInterpreterState_Next(interp)) {
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
      if (py::internals::thread_ident(ts) == thread_id && ts != own) {
        target = ts;
        break;
      }
    }
  }
  bool raised = false;
  if (target) {
    // SetAsyncExc and the mod_wsgi module are per interpreter: act from inside the
    // target's interpreter (one GIL for all of them in this Python).
    PyInterpreterState* interp = PyThreadState_GetInterpreter(target);
    PyThreadState* guest = interp == PyThreadState_GetInterpreter(own) ? nullptr : PyThreadState_New(interp);
    if (guest) PyThreadState_Swap(guest);
    if (stack) {
      PyFrameObject* frame = PyThreadState_GetFrame(target);
      *stack = frame ? format_stack(frame) : "(no Python frames)";
      Py_XDECREF(frame);
    }
    PyObject* modules = PyImport_GetModuleDict();
    PyObject* mod_wsgi = modules ? PyDict_GetItemString(modules, "mod_wsgi") : nullptr;  // borrowed
    PyObject* type = mod_wsgi ? PyObject_GetAttrString(mod_wsgi, "RequestTimeout") : nullptr;
    if (!type) {
      PyErr_Clear();
      type = Py_NewRef(PyExc_TimeoutError);  // the app replaced mod_wsgi: still interrupt it
    }
    raised = PyThreadState_SetAsyncExc(thread_id, type) == 1;
    Py_DECREF(type);
    if (guest) {
      PyThreadState_Swap(own);
      PyThreadState_Clear(guest);
      PyThreadState_Delete(guest);
    }
  }
  PyGILState_Release(gil);
  return raised;
}

}  // namespace gantry::wsgi
