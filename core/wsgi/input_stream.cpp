// wsgi.input implementation (PEP 3333 "input stream").
#include "wsgi/input_stream.hpp"

#include <cstring>
#include <memory>
#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/py_object.hpp"

namespace gantry::wsgi {
namespace {

constexpr std::size_t kBufferSize = 8192;
constexpr std::size_t kReadAllChunk = 65536;

struct InputStream {
  RequestChannel* channel;
  std::unique_ptr<char[]> buffer;  // allocated on the first readline-style call
  std::size_t pos = 0, end = 0;    // unread bytes are buffer[pos, end)
  bool eof = false;

  std::size_t buffered() const noexcept { return end - pos; }
};

InputStream& input_of(PyObject* self) { return payload_of<InputStream>(self); }

bool check_open(const InputStream& in) {
  if (in.channel) return true;
  PyErr_SetString(PyExc_ValueError, "wsgi.input used after its request completed");
  return false;
}

// Reads from the channel with the GIL released, once. Returns -1 with a Python error set.
// fill = true: keeps reading until `size` bytes or the end of the body, still under one
// GIL release. The channels hand over what one socket read brought (8 KiB from Apache's
// HTTP_IN, one BODY frame in a daemon): re-taking the GIL after each of those made a
// 10 MiB upload ~1300 GIL hand-offs, which other request threads turned into convoys.
Py_ssize_t channel_read(InputStream& in, char* into, std::size_t size, bool fill = false) {
  if (in.eof) return 0;
  std::size_t got = 0;
  try {
    py::GilRelease unlocked;
    do {
      const std::size_t n = in.channel->read(into + got, size - got);
      if (n == 0) {
        in.eof = true;
        break;
      }
      got += n;
    } while (fill && got < size);
  } catch (const ChannelError& e) {
    PyErr_Format(PyExc_OSError, "failed reading the request body: %s", e.what());
    return -1;
  } catch (const std::exception& e) {
    PyErr_Format(PyExc_OSError, "failed reading the request body: %s", e.what());
    return -1;
  } catch (...) {
    PyErr_SetString(PyExc_OSError, "failed reading the request body");
    return -1;
  }
  return static_cast<Py_ssize_t>(got);
}

// Refills the (empty) buffer. Returns bytes now buffered, 0 at end of body, -1 on error.
Py_ssize_t refill(InputStream& in) {
  if (!in.buffer) in.buffer = std::make_unique<char[]>(kBufferSize);
  in.pos = in.end = 0;
  Py_ssize_t got = channel_read(in, in.buffer.get(), kBufferSize);
  if (got > 0) in.end = static_cast<std::size_t>(got);
  return got;
}

std::size_t take_buffered(InputStream& in, char* into, std::size_t max) {
  std::size_t n = std::min(max, in.buffered());
  if (n) {
    std::memcpy(into, in.buffer.get() + in.pos, n);
    in.pos += n;
  }
  return n;
}

PyObject* read_exactly(InputStream& in, std::size_t want) {
  py::Ref result = py::Ref::steal(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(want)));
  if (!result) return nullptr;
  char* data = PyBytes_AS_STRING(result.get());
  std::size_t have = take_buffered(in, data, want);
  while (have < want) {
    Py_ssize_t got = channel_read(in, data + have, want - have, /*fill=*/true);
    if (got < 0) return nullptr;
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  if (have != want) {
    PyObject* raw = result.release();
    if (_PyBytes_Resize(&raw, static_cast<Py_ssize_t>(have)) < 0) return nullptr;
    return raw;
  }
  return result.release();
}

PyObject* read_all(InputStream& in) {
  std::size_t capacity = std::max(in.buffered(), kReadAllChunk);
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(capacity));
  if (!raw) return nullptr;
  std::size_t have = take_buffered(in, PyBytes_AS_STRING(raw), capacity);
  for (;;) {
    if (have == capacity) {
      capacity *= 2;
      if (_PyBytes_Resize(&raw, static_cast<Py_ssize_t>(capacity)) < 0) return nullptr;
    }
    Py_ssize_t got = channel_read(in, PyBytes_AS_STRING(raw) + have, capacity - have, /*fill=*/true);
    if (got < 0) {
      Py_DECREF(raw);
      return nullptr;
    }
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  if (_PyBytes_Resize(&raw, static_cast<Py_ssize_t>(have)) < 0) return nullptr;
  return raw;
}

// One line including its b"\n", at most `limit` bytes (limit < 0: no limit).
PyObject* read_line(InputStream& in, Py_ssize_t limit) {
  std::string slow;  // used only when a line spans buffer refills
  for (;;) {
    if (in.buffered() == 0) {
      Py_ssize_t got = refill(in);
      if (got < 0) return nullptr;
      if (got == 0) break;
    }
    std::size_t room = limit < 0 ? in.buffered()
                                 : std::min(in.buffered(), static_cast<std::size_t>(limit) - slow.size());
    const char* start = in.buffer.get() + in.pos;
    const void* nl = std::memchr(start, '\n', room);
    std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1 : room;
    bool done = nl || (limit >= 0 && slow.size() + take >= static_cast<std::size_t>(limit));
    if (done && slow.empty()) {  // common case: the whole line is in the buffer
      in.pos += take;
      return PyBytes_FromStringAndSize(start, static_cast<Py_ssize_t>(take));
    }
    slow.append(start, take);
    in.pos += take;
    if (done) break;
  }
  return PyBytes_FromStringAndSize(slow.data(), static_cast<Py_ssize_t>(slow.size()));
}

bool size_arg(PyObject* const* args, Py_ssize_t nargs, const char* fname, Py_ssize_t& out) {
  out = -1;
  if (nargs > 1) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fname, nargs);
    return false;
  }
  if (nargs == 1 && args[0] != Py_None) {
    out = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (out == -1 && PyErr_Occurred()) return false;
  }
  return true;
}

PyObject* input_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    InputStream& in = input_of(self);
    Py_ssize_t size;
    if (!size_arg(args, nargs, "read", size) || !check_open(in)) return nullptr;
    if (size < 0) return read_all(in);
    return read_exactly(in, static_cast<std::size_t>(size));
  });
}

PyObject* input_readline(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    InputStream& in = input_of(self);
    Py_ssize_t size;
    if (!size_arg(args, nargs, "readline", size) || !check_open(in)) return nullptr;
    if (size == 0) return PyBytes_FromStringAndSize("", 0);
    return read_line(in, size);
  });
}

PyObject* input_readlines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    InputStream& in = input_of(self);
    Py_ssize_t hint;
    if (!size_arg(args, nargs, "readlines", hint) || !check_open(in)) return nullptr;
    py::Ref lines = py::Ref::steal(PyList_New(0));
    if (!lines) return nullptr;
    Py_ssize_t total = 0;
    for (;;) {
      py::Ref line = py::Ref::steal(read_line(in, -1));
      if (!line) return nullptr;
      Py_ssize_t n = PyBytes_GET_SIZE(line.get());
      if (n == 0) break;
      if (PyList_Append(lines.get(), line.get()) < 0) return nullptr;
      total += n;
      if (hint > 0 && total >= hint) break;
    }
    return lines.release();
  });
}

PyObject* input_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* input_next(PyObject* self) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    InputStream& in = input_of(self);
    if (!check_open(in)) return nullptr;
    py::Ref line = py::Ref::steal(read_line(in, -1));
    if (!line || PyBytes_GET_SIZE(line.get()) == 0) return nullptr;  // end: no error set = StopIteration
    return line.release();
  });
}

PyObject* input_close(PyObject*, PyObject*) { Py_RETURN_NONE; }  // the server owns the body

PyMethodDef input_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_read)), METH_FASTCALL,
     "read(size=-1): up to size bytes; everything left when size is negative or omitted."},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readline)), METH_FASTCALL,
     "readline(size=-1): one line including its newline."},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readlines)), METH_FASTCALL,
     "readlines(hint=-1): list of lines, stopping once hint bytes were read."},
    {"close", input_close, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

PyTypeObject InputStreamType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.Input";
  t.tp_basicsize = sizeof(PyBox<InputStream>);
  t.tp_dealloc = dealloc_boxed<InputStream>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "The request body (wsgi.input).";
  t.tp_iter = input_iter;
  t.tp_iternext = input_next;
  t.tp_methods = input_methods;
  return t;
}();

PyObject* new_input_stream(RequestChannel& channel) {
  return new_boxed<InputStream>(&InputStreamType, InputStream{&channel, nullptr, 0, 0, false});
}

void detach_input_stream(PyObject* stream) noexcept { input_of(stream).channel = nullptr; }

bool ready_input_stream_type() noexcept { return PyType_Ready(&InputStreamType) == 0; }

}  // namespace gantry::wsgi
