// Log routing and traceback formatting for the Python side.
#include "wsgi/log_target.hpp"

#include <cstdio>
#include <string>

#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"

namespace gantry::wsgi {

void LogTarget::log(Level level, const char* id, std::string_view text) const noexcept {
  try {
    std::string line;
    line.reserve(text.size() + 12);
    line.append(id).append(": ").append(text);
    py::GilReleaseIfHeld unlocked;
    if (channel) {
      channel->log(level, line);
    } else if (logger) {
      logger->log(level, line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  } catch (...) {
    // A failing log sink must not take the request down with it.
  }
}

namespace {

// traceback.format_exception(type, value, tb) -> list of str (each may hold several lines).
py::Ref format_traceback(const py::FetchedError& error) {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("traceback"));
  if (!module) return {};
  py::Ref fn = py::Ref::steal(PyObject_GetAttrString(module.get(), "format_exception"));
  if (!fn) return {};
  PyObject* tb = error.traceback ? error.traceback.get() : Py_None;
  PyObject* value = error.value ? error.value.get() : Py_None;
  return py::Ref::steal(PyObject_CallFunctionObjArgs(fn.get(), error.type.get(), value, tb, nullptr));
}

}  // namespace

void log_exception(const LogTarget& target, Level level, const char* id, std::string_view headline,
                   const py::FetchedError& error) noexcept {
  py::ErrorScope keep;  // whatever is pending stays pending
  target.log(level, id, headline);
  if (!error) return;
  py::Ref lines = format_traceback(error);
  if (!lines || !PyList_Check(lines.get())) {
    PyErr_Clear();
    target.log(level, id, "(traceback unavailable)");
    return;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines.get()); ++i) {
    py::Ref chunk = py::Ref::borrow(PyList_GET_ITEM(lines.get(), i));
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(chunk.get(), &size);
    if (!text) {
      PyErr_Clear();
      continue;
    }
    std::string_view rest(text, static_cast<std::size_t>(size));
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty()) target.log(level, id, line);
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
}

}  // namespace gantry::wsgi
