#pragma once
// wsgi.file_wrapper(filelike, blksize=8192): an iterable over a file's blocks. When the
// app returns one whose file has a real descriptor, the adapter hands the descriptor to
// RequestChannel::send_file() instead of iterating (see adapter.cpp).
#include <Python.h>

namespace gantry::wsgi {

extern PyTypeObject FileWrapperType;

struct FileWrapperView {
  PyObject* filelike;  // borrowed
  Py_ssize_t block_size;
};
FileWrapperView file_wrapper_view(PyObject* wrapper) noexcept;

bool ready_file_wrapper_type() noexcept;

}  // namespace gantry::wsgi
