// sys.stdout/sys.stderr/wsgi.errors as line-buffered text streams into the log, each with
// a binary .buffer; restricted stdio.
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
  // The live .buffer object, if any (borrowed: the buffer holds a reference to this
  // stream and clears this when it goes, so there is no cycle to collect).
  PyObject* buffer = nullptr;
};

// The binary side of a LogStream: its bytes join the same pending line.
struct LogBuffer {
  explicit LogBuffer(py::Ref text_stream) noexcept : stream(std::move(text_stream)) {}
  LogBuffer(const LogBuffer&) = delete;
  LogBuffer& operator=(const LogBuffer&) = delete;
  ~LogBuffer() {
    if (stream) payload_of<LogStream>(stream.get()).buffer = nullptr;
  }
  py::Ref stream;
};

LogStream& stream_of(PyObject* self) { return payload_of<LogStream>(self); }
LogStream& buffer_stream(PyObject* self) { return stream_of(payload_of<LogBuffer>(self).stream.get()); }

// Apache cuts an error-log line at MAX_STRING_LEN (8192 bytes), its own prefix (time,
// module, pid, client) and the GANTRY id included: text is logged in pieces of at most
// this much so that none of it is cut off. It is also the most a stream holds of a line
// that has no newline yet (text written without one would otherwise pile up without
// bound: mod_wsgi keeps all of it until a newline or flush()).
constexpr std::size_t kMaxPiece = 7 * 1024;

// How many bytes of `text` to log as one piece: at most kMaxPiece, never ending inside a
// UTF-8 sequence (the text side is UTF-8; bytes from .buffer may be anything, and lose
// nothing by the same rule).
std::size_t piece_size(std::string_view text) {
  if (text.size() <= kMaxPiece) return text.size();
  std::size_t cut = kMaxPiece;
  for (int back = 0; back < 3 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++back) --cut;
  return cut;
}

// One line (without its newline) as one log line, or as several if it is long.
void log_line(LogStream& s, std::string_view line) {
  do {
    const std::size_t n = piece_size(line);
    s.target.log(s.level, s.id, line.substr(0, n));
    line.remove_prefix(n);
  } while (!line.empty());
}

// Logs every complete line, then as much of a long unfinished one as fills whole pieces.
// What is taken out leaves `pending` before logging: the sink runs without the GIL and
// another thread may write to the same stream (sys.stdout is shared) meanwhile.
void emit_ready(LogStream& s) {
  const auto last_nl = s.pending.rfind('\n');
  if (last_nl == std::string::npos && s.pending.size() <= kMaxPiece) return;
  std::string taken = std::move(s.pending);
  s.pending.clear();
  std::string_view rest(taken);
  if (last_nl != std::string::npos) {
    std::string_view lines = rest.substr(0, last_nl + 1);
    rest.remove_prefix(last_nl + 1);
    while (!lines.empty()) {
      const auto nl = lines.find('\n');
      log_line(s, lines.substr(0, nl));
      lines.remove_prefix(nl + 1);
    }
  }
  while (rest.size() > kMaxPiece) {
    const std::size_t n = piece_size(rest);
    s.target.log(s.level, s.id, rest.substr(0, n));
    rest.remove_prefix(n);
  }
  // Back in front of whatever another thread appended meanwhile (normally nothing).
  s.pending.insert(0, rest);
}

void emit_partial(LogStream& s) {
  if (s.pending.empty()) return;
  std::string line = std::move(s.pending);
  s.pending.clear();
  log_line(s, line);
}

// UTF-8 with errors='replace' (what mod_wsgi's TextIOWrapper does): a lone surrogate
// becomes '?' instead of failing the write.
bool append_text(LogStream& s, PyObject* text) {
  if (!PyUnicode_Check(text)) {
    PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.80s", Py_TYPE(text)->tp_name);
    return false;
  }
  Py_ssize_t size = 0;
  if (const char* data = PyUnicode_AsUTF8AndSize(text, &size)) {
    s.pending.append(data, static_cast<std::size_t>(size));
    return true;
  }
  if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return false;
  PyErr_Clear();
  py::Ref encoded = py::Ref::steal(PyUnicode_AsEncodedString(text, "utf-8", "replace"));
  if (!encoded) return false;
  s.pending.append(PyBytes_AS_STRING(encoded.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded.get())));
  return true;
}

// A bytes-like object's contiguous bytes, released on scope exit.
class BytesView {
 public:
  explicit BytesView(PyObject* data) noexcept { ok_ = PyObject_GetBuffer(data, &view_, PyBUF_SIMPLE) == 0; }
  ~BytesView() {
    if (ok_) PyBuffer_Release(&view_);
  }
  BytesView(const BytesView&) = delete;
  BytesView& operator=(const BytesView&) = delete;
  explicit operator bool() const noexcept { return ok_; }
  std::string_view bytes() const noexcept {
    return {static_cast<const char*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
  bool ok_ = false;
};

// bytes, bytearray, memoryview... (mod_wsgi 6); str too, as mod_wsgi's Log takes it.
// Returns the number of bytes taken, -1 with a Python error set.
Py_ssize_t append_bytes(LogStream& s, PyObject* data) {
  if (PyUnicode_Check(data)) {
    const std::size_t before = s.pending.size();
    return append_text(s, data) ? static_cast<Py_ssize_t>(s.pending.size() - before) : -1;
  }
  BytesView view(data);
  if (!view) {
    PyErr_Format(PyExc_TypeError, "write() argument must be a bytes-like object, not %.80s", Py_TYPE(data)->tp_name);
    return -1;
  }
  s.pending.append(view.bytes());
  return static_cast<Py_ssize_t>(view.bytes().size());
}

PyObject* unsupported(const char* what) {
  py::Ref io = py::Ref::steal(PyImport_ImportModule("io"));
  py::Ref type = io ? py::Ref::steal(PyObject_GetAttrString(io.get(), "UnsupportedOperation")) : py::Ref();
  if (type) PyErr_Format(type.get(), "%s: the server's log stream supports writing only", what);
  return nullptr;
}

// ---- the text stream ----------------------------------------------------------------------

PyObject* log_write(PyObject* self, PyObject* text) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = stream_of(self);
    if (!append_text(s, text)) return nullptr;
    emit_ready(s);
    return PyLong_FromSsize_t(PyUnicode_GetLength(text));
  });
}

// writelines() of both sides: `append` takes one item (false / -1 with an error set).
template <typename Append>
PyObject* write_each(LogStream& s, PyObject* seq, Append&& append) {
  py::Ref it = py::Ref::steal(PyObject_GetIter(seq));
  if (!it) return nullptr;
  while (py::Ref item = py::Ref::steal(PyIter_Next(it.get()))) {
    if (!append(item.get())) return nullptr;
  }
  if (PyErr_Occurred()) return nullptr;
  emit_ready(s);
  Py_RETURN_NONE;
}

PyObject* log_writelines(PyObject* self, PyObject* seq) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = stream_of(self);
    return write_each(s, seq, [&](PyObject* item) { return append_text(s, item); });
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

// OSError, as mod_wsgi's: faulthandler and friends catch it and carry on.
PyObject* no_fileno(PyObject*, PyObject*) {
  PyErr_SetString(PyExc_OSError, "the server's log stream is not associated with a file descriptor");
  return nullptr;
}
PyObject* not_readable(PyObject*, PyObject*) { return unsupported("not readable"); }
PyObject* not_seekable(PyObject*, PyObject*) { return unsupported("not seekable"); }
PyObject* not_detachable(PyObject*, PyObject*) { return unsupported("cannot detach"); }

PyObject* log_get_name(PyObject* self, void*) { return PyUnicode_FromString(stream_of(self).name); }
PyObject* get_utf8(PyObject*, void*) { return PyUnicode_FromString("utf-8"); }
PyObject* get_replace(PyObject*, void*) { return PyUnicode_FromString("replace"); }
PyObject* get_false(PyObject*, void*) { Py_RETURN_FALSE; }
PyObject* get_true(PyObject*, void*) { Py_RETURN_TRUE; }
PyObject* get_none(PyObject*, void*) { Py_RETURN_NONE; }

PyObject* log_get_buffer(PyObject* self, void*) {
  LogStream& s = stream_of(self);
  if (s.buffer) return Py_NewRef(s.buffer);
  PyObject* buffer = new_boxed<LogBuffer>(&LogBufferType, py::Ref::borrow(self));
  s.buffer = buffer;
  return buffer;
}

PyMethodDef log_methods[] = {
    {"write", log_write, METH_O, "Log text; each complete line becomes one log line."},
    {"writelines", log_writelines, METH_O, "Write each string of an iterable."},
    {"flush", log_flush, METH_NOARGS, "Log any partial line now."},
    {"close", log_flush, METH_NOARGS, "Log any partial line; the stream stays usable."},
    {"isatty", return_false, METH_NOARGS, nullptr},
    {"writable", return_true, METH_NOARGS, nullptr},
    {"readable", return_false, METH_NOARGS, nullptr},
    {"seekable", return_false, METH_NOARGS, nullptr},
    {"fileno", no_fileno, METH_NOARGS, nullptr},
    {"read", not_readable, METH_VARARGS, nullptr},
    {"readline", not_readable, METH_VARARGS, nullptr},
    {"readlines", not_readable, METH_VARARGS, nullptr},
    {"seek", not_seekable, METH_VARARGS, nullptr},
    {"tell", not_seekable, METH_NOARGS, nullptr},
    {"truncate", not_seekable, METH_VARARGS, nullptr},
    {"detach", not_detachable, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef log_getset[] = {
    {"name", log_get_name, nullptr, nullptr, nullptr},
    {"encoding", get_utf8, nullptr, nullptr, nullptr},
    {"errors", get_replace, nullptr, nullptr, nullptr},
    {"closed", get_false, nullptr, nullptr, nullptr},
    {"line_buffering", get_true, nullptr, nullptr, nullptr},
    {"write_through", get_true, nullptr, nullptr, nullptr},
    {"newlines", get_none, nullptr, nullptr, nullptr},
    {"buffer", log_get_buffer, nullptr, "The binary stream under this one (bytes-like writes).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// ---- the binary .buffer ------------------------------------------------------------------

PyObject* buffer_write(PyObject* self, PyObject* data) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = buffer_stream(self);
    Py_ssize_t taken = append_bytes(s, data);
    if (taken < 0) return nullptr;
    emit_ready(s);
    return PyLong_FromSsize_t(taken);
  });
}

PyObject* buffer_writelines(PyObject* self, PyObject* seq) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LogStream& s = buffer_stream(self);
    return write_each(s, seq, [&](PyObject* item) { return append_bytes(s, item) >= 0; });
  });
}

PyObject* buffer_flush(PyObject* self, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    emit_partial(buffer_stream(self));
    Py_RETURN_NONE;
  });
}

PyObject* buffer_get_name(PyObject* self, void*) { return PyUnicode_FromString(buffer_stream(self).name); }

PyMethodDef buffer_methods[] = {
    {"write", buffer_write, METH_O, "Log bytes (bytes, bytearray, memoryview); each complete line is one log line."},
    {"writelines", buffer_writelines, METH_O, "Write each bytes-like object of an iterable."},
    {"flush", buffer_flush, METH_NOARGS, "Log any partial line now."},
    {"close", buffer_flush, METH_NOARGS, "Log any partial line; the stream stays usable."},
    {"isatty", return_false, METH_NOARGS, nullptr},
    {"writable", return_true, METH_NOARGS, nullptr},
    {"readable", return_false, METH_NOARGS, nullptr},
    {"seekable", return_false, METH_NOARGS, nullptr},
    {"fileno", no_fileno, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef buffer_getset[] = {
    {"name", buffer_get_name, nullptr, nullptr, nullptr},
    {"closed", get_false, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// ---- restricted stdio ----------------------------------------------------------------------

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

bool register_with(PyObject* io, const char* abc, PyTypeObject* type) {
  py::Ref base = py::Ref::steal(PyObject_GetAttrString(io, abc));
  py::Ref done = base ? py::Ref::steal(PyObject_CallMethod(base.get(), "register", "O", reinterpret_cast<PyObject*>(type))) : py::Ref();
  return static_cast<bool>(done);
}

}  // namespace

PyTypeObject LogStreamType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.LogWrapper";
  t.tp_basicsize = sizeof(PyBox<LogStream>);
  t.tp_dealloc = dealloc_boxed<LogStream>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "Line-buffered text stream into the server's error log.";
  t.tp_methods = log_methods;
  t.tp_getset = log_getset;
  return t;
}();

PyTypeObject LogBufferType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.Log";
  t.tp_basicsize = sizeof(PyBox<LogBuffer>);
  t.tp_dealloc = dealloc_boxed<LogBuffer>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "Binary stream into the server's error log (the .buffer of a log text stream).";
  t.tp_methods = buffer_methods;
  t.tp_getset = buffer_getset;
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
  return new_boxed<LogStream>(&LogStreamType, LogStream{LogTarget{channel, logger}, level, id, name, {}, nullptr});
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
  return PyType_Ready(&LogStreamType) == 0 && PyType_Ready(&LogBufferType) == 0 &&
         PyType_Ready(&RestrictedStreamType) == 0;
}

bool register_log_stream_abcs() noexcept {
  py::Ref io = py::Ref::steal(PyImport_ImportModule("io"));
  return io && register_with(io.get(), "TextIOBase", &LogStreamType) &&
         register_with(io.get(), "BufferedIOBase", &LogBufferType);
}

}  // namespace gantry::wsgi
