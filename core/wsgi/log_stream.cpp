// sys.stdout/sys.stderr/wsgi.errors as line-buffered log writers; restricted stdio.
#include "wsgi/log_stream.hpp"

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/log_target.hpp"
#include "wsgi/py_object.hpp"

namespace gantry::wsgi {
namespace {

struct LogStream {
  LogTarget target;
  Level level;
  const char* id;
  const char* name;
  std::string pending;  // text after the last newline, not yet logged
};

LogStream& stream_of(PyObject* self) { return payload_of<LogStream>(self); }

void emit_complete_lines(LogStream& s) {
  auto last_nl = s.pending.rfind('\n');
  if (last_nl == std::string::npos) return;
  // Take the complete lines out before logging: the sink runs without the GIL and
  // another thread may write to the same stream (sys.stdout is shared) meanwhile.
  std::string complete = s.pending.substr(0, last_nl + 1);
  s.pending.erase(0, last_nl + 1);
  std::string_view rest(complete);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    s.target.log(s.level, s.id, rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
}

void emit_partial(LogStream& s) {
  if (s.pending.empty()) return;
  std::string line = std::move(s.pending);
  s.pending.clear();
  s.target.log(s.level, s.id, line);
}

bool append_text(LogStream& s, PyObject* text) {
  if (!PyUnicode_Check(text)) {
    PyErr_Format(PyExc_TypeError, "%s.write() argument must be str, not %.80s", s.name,
                 Py_TYPE(text)->tp_name);
    return false;
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text, &size);
  if (!data) return false;
  s.pending.append(data, static_cast<std::size_t>(size));
  return true;
}

PyObject* log_write(PyObject* self, PyObject* text) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = stream_of(self);
    if (!append_text(s, text)) return nullptr;
    emit_complete_lines(s);
    return PyLong_FromSsize_t(PyUnicode_GetLength(text));
  });
}

PyObject* log_writelines(PyObject* self, PyObject* seq) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = stream_of(self);
    py::Ref it = py::Ref::steal(PyObject_GetIter(seq));
    if (!it) return nullptr;
    while (py::Ref item = py::Ref::steal(PyIter_Next(it.get()))) {
      if (!append_text(s, item.get())) return nullptr;
    }
    if (PyErr_Occurred()) return nullptr;
    emit_complete_lines(s);
    Py_RETURN_NONE;
  });
}

PyObject* log_flush(PyObject* self, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    emit_partial(stream_of(self));
    Py_RETURN_NONE;
  });
}

PyObject* return_false(PyObject*, PyObject*) { Py_RETURN_FALSE; }
PyObject* return_true(PyObject*, PyObject*) { Py_RETURN_TRUE; }

PyObject* log_get_name(PyObject* self, void*) { return PyUnicode_FromString(stream_of(self).name); }
PyObject* log_get_encoding(PyObject*, void*) { return PyUnicode_FromString("utf-8"); }
PyObject* log_get_closed(PyObject*, void*) { Py_RETURN_FALSE; }

PyMethodDef log_methods[] = {
    {"write", log_write, METH_O, "Log text; each complete line becomes one log line."},
    {"writelines", log_writelines, METH_O, "Write each string of an iterable."},
    {"flush", log_flush, METH_NOARGS, "Log any partial line now."},
    {"isatty", return_false, METH_NOARGS, nullptr},
    {"writable", return_true, METH_NOARGS, nullptr},
    {"readable", return_false, METH_NOARGS, nullptr},
    {"seekable", return_false, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef log_getset[] = {
    {"name", log_get_name, nullptr, nullptr, nullptr},
    {"encoding", log_get_encoding, nullptr, nullptr, nullptr},
    {"closed", log_get_closed, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

struct Restricted {
  const char* what;
  const char* directive;
};

PyObject* restricted_getattro(PyObject* self, PyObject*) {
  const Restricted& r = payload_of<Restricted>(self);
  PyErr_Format(PyExc_OSError,
               "%s access restricted by %s On; set '%s Off' in the server configuration to allow it",
               r.what, r.directive, r.directive);
  return nullptr;
}

}  // namespace

PyTypeObject LogStreamType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.Log";
  t.tp_basicsize = sizeof(PyBox<LogStream>);
  t.tp_dealloc = dealloc_boxed<LogStream>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "Line-buffered text stream into the server's error log.";
  t.tp_methods = log_methods;
  t.tp_getset = log_getset;
  return t;
}();

PyTypeObject RestrictedStreamType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.Restricted";
  t.tp_basicsize = sizeof(PyBox<Restricted>);
  t.tp_dealloc = dealloc_boxed<Restricted>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_getattro = restricted_getattro;
  t.tp_doc = "Stand-in for a standard stream the server configuration restricts.";
  return t;
}();

PyObject* new_log_stream(Logger* logger, RequestChannel* channel, Level level, const char* id,
                         const char* name) {
  return new_boxed<LogStream>(&LogStreamType, LogStream{LogTarget{channel, logger}, level, id, name, {}});
}

void detach_log_stream(PyObject* stream) noexcept {
  LogStream& s = stream_of(stream);
  emit_partial(s);
  s.target.channel = nullptr;
}

void flush_log_stream(PyObject* stream) noexcept {
  if (Py_IS_TYPE(stream, &LogStreamType)) emit_partial(stream_of(stream));
}

PyObject* new_restricted_stream(const char* what, const char* directive) {
  return new_boxed<Restricted>(&RestrictedStreamType, Restricted{what, directive});
}

bool ready_log_stream_types() noexcept {
  return PyType_Ready(&LogStreamType) == 0 && PyType_Ready(&RestrictedStreamType) == 0;
}

}  // namespace gantry::wsgi
