#pragma once
// Builds a dict of plain values (the metrics and event payloads) without a failure check
// after every item: the first failed insertion sticks, and release() then gives nullptr with
// the Python error still set. GIL held.
#include <Python.h>

#include <string_view>

#include "gantry/py/ref.hpp"

namespace gantry::wsgi {

class DictBuilder {
 public:
  DictBuilder() noexcept : dict_(py::Ref::steal(PyDict_New())), ok_(static_cast<bool>(dict_)) {}
  // Adds to an existing dict instead.
  explicit DictBuilder(py::Ref dict) noexcept : dict_(std::move(dict)), ok_(static_cast<bool>(dict_)) {}

  DictBuilder& set(const char* key, py::Ref value) noexcept {
    if (ok_ && (!value || PyDict_SetItemString(dict_.get(), key, value.get()) < 0)) ok_ = false;
    return *this;
  }
  DictBuilder& set_borrowed(const char* key, PyObject* value) noexcept { return set(key, py::Ref::borrow(value)); }
  DictBuilder& integer(const char* key, long long value) noexcept {
    return ok_ ? set(key, py::Ref::steal(PyLong_FromLongLong(value))) : *this;
  }
  DictBuilder& real(const char* key, double value) noexcept {
    return ok_ ? set(key, py::Ref::steal(PyFloat_FromDouble(value))) : *this;
  }
  DictBuilder& flag(const char* key, bool value) noexcept { return set_borrowed(key, value ? Py_True : Py_False); }
  DictBuilder& none(const char* key) noexcept { return set_borrowed(key, Py_None); }
  DictBuilder& text(const char* key, std::string_view value) noexcept {
    return ok_ ? set(key, py::Ref::steal(PyUnicode_DecodeLatin1(value.data(), static_cast<Py_ssize_t>(value.size()),
                                                                nullptr)))
               : *this;
  }

  bool ok() const noexcept { return ok_; }
  PyObject* get() const noexcept { return dict_.get(); }
  // The dict (new reference), or nullptr with the Python error of the failed step.
  PyObject* release() noexcept { return ok_ ? dict_.release() : nullptr; }

 private:
  py::Ref dict_;
  bool ok_;
};

}  // namespace gantry::wsgi
