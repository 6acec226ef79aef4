#pragma once
// Helpers for Gantry's C-implemented Python types whose instances carry a C++ payload.
// The payload is placement-constructed after tp_alloc and destroyed in tp_dealloc, so C++
// members (strings, buffers, Refs) follow normal C++ lifetime rules.
#include <Python.h>

#include <new>
#include <utility>

namespace gantry::wsgi {

// A zeroed static type object with the one reference PyVarObject_HEAD_INIT would give it
// (spelled out to stay -Wmissing-field-initializers clean in C++).
inline PyTypeObject blank_type() noexcept {
  PyTypeObject t{};
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);
  return t;
}

template <typename Payload>
struct PyBox {
  PyObject_HEAD
  Payload payload;
};

template <typename Payload, typename... Args>
PyObject* new_boxed(PyTypeObject* type, Args&&... args) {
  auto* self = reinterpret_cast<PyBox<Payload>*>(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  try {
    new (&self->payload) Payload(std::forward<Args>(args)...);
  } catch (...) {
    Py_TYPE(self)->tp_free(self);
    PyErr_NoMemory();
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(self);
}

template <typename Payload>
Payload& payload_of(PyObject* self) noexcept {
  return reinterpret_cast<PyBox<Payload>*>(self)->payload;
}

template <typename Payload>
void dealloc_boxed(PyObject* self) noexcept {
  PyTypeObject* type = Py_TYPE(self);
  if (PyType_IS_GC(type)) PyObject_GC_UnTrack(self);
  reinterpret_cast<PyBox<Payload>*>(self)->payload.~Payload();
  type->tp_free(self);
}

}  // namespace gantry::wsgi
