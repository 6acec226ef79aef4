// wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling").
#include "wsgi/file_wrapper.hpp"

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/py_object.hpp"

namespace gantry::wsgi {
namespace {

constexpr Py_ssize_t kDefaultBlockSize = 8192;

struct FileWrapper {
  py::Ref filelike;
  Py_ssize_t block_size = kDefaultBlockSize;
};

FileWrapper& wrapper_of(PyObject* self) { return payload_of<FileWrapper>(self); }

PyObject* wrapper_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    static const char* keywords[] = {"filelike", "blksize", nullptr};
    PyObject* filelike = nullptr;
    Py_ssize_t block_size = kDefaultBlockSize;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:file_wrapper", const_cast<char**>(keywords), &filelike,
                                     &block_size)) {
      return nullptr;
    }
    if (block_size <= 0) {
      PyErr_SetString(PyExc_ValueError, "file_wrapper() blksize must be a positive integer");
      return nullptr;
    }
    return new_boxed<FileWrapper>(type, FileWrapper{py::Ref::borrow(filelike), block_size});
  });
}

int wrapper_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(wrapper_of(self).filelike.get());
  return 0;
}

int wrapper_clear(PyObject* self) {
  wrapper_of(self).filelike.reset();
  return 0;
}

PyObject* wrapper_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* wrapper_next(PyObject* self) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    FileWrapper& w = wrapper_of(self);
    if (!w.filelike) return nullptr;
    py::Ref data = py::Ref::steal(PyObject_CallMethod(w.filelike.get(), "read", "n", w.block_size));
    if (!data) return nullptr;
    if (PyBytes_Check(data.get()) && PyBytes_GET_SIZE(data.get()) == 0) return nullptr;  // EOF
    if (PyUnicode_Check(data.get()) && PyUnicode_GET_LENGTH(data.get()) == 0) return nullptr;
    return data.release();  // a non-bytes block is reported by the adapter, like any item
  });
}

PyObject* wrapper_close(PyObject* self, PyObject*) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    FileWrapper& w = wrapper_of(self);
    if (w.filelike && PyObject_HasAttrString(w.filelike.get(), "close")) {
      py::Ref r = py::Ref::steal(PyObject_CallMethod(w.filelike.get(), "close", nullptr));
      if (!r) return nullptr;
    }
    Py_RETURN_NONE;
  });
}

PyObject* wrapper_get_filelike(PyObject* self, void*) {
  PyObject* f = wrapper_of(self).filelike.get();
  return Py_NewRef(f ? f : Py_None);
}

PyObject* wrapper_get_blksize(PyObject* self, void*) { return PyLong_FromSsize_t(wrapper_of(self).block_size); }

PyMethodDef wrapper_methods[] = {
    {"close", wrapper_close, METH_NOARGS, "Close the wrapped file."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef wrapper_getset[] = {
    {"filelike", wrapper_get_filelike, nullptr, nullptr, nullptr},
    {"blksize", wrapper_get_blksize, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

PyTypeObject FileWrapperType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.FileWrapper";
  t.tp_basicsize = sizeof(PyBox<FileWrapper>);
  t.tp_dealloc = dealloc_boxed<FileWrapper>;
  t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  t.tp_doc = "file_wrapper(filelike, blksize=8192): iterate a file in blocks.";
  t.tp_traverse = wrapper_traverse;
  t.tp_clear = wrapper_clear;
  t.tp_iter = wrapper_iter;
  t.tp_iternext = wrapper_next;
  t.tp_methods = wrapper_methods;
  t.tp_getset = wrapper_getset;
  t.tp_new = wrapper_new;
  return t;
}();

FileWrapperView file_wrapper_view(PyObject* wrapper) noexcept {
  FileWrapper& w = wrapper_of(wrapper);
  return {w.filelike.get(), w.block_size};
}

bool ready_file_wrapper_type() noexcept { return PyType_Ready(&FileWrapperType) == 0; }

}  // namespace gantry::wsgi
