#pragma once
// An owning PyObject* handle: the one place Gantry increments and decrements reference
// counts, so no early return or C++ exception can leak or double-free an object.
//   Ref::steal(p)  takes over a new reference (what most C API calls return);
//   Ref::borrow(p) adds a reference to a borrowed pointer;
//   copy = incref, move = steal, release() hands the reference back to C.
// Only touch a Ref while holding the GIL of the interpreter that owns the object.
#include <Python.h>

#include <utility>

namespace gantry::py {

class Ref {
 public:
  Ref() noexcept = default;
  static Ref steal(PyObject* p) noexcept { return Ref(p); }
  static Ref borrow(PyObject* p) noexcept {
    Py_XINCREF(p);
    return Ref(p);
  }

  Ref(const Ref& other) noexcept : p_(other.p_) { Py_XINCREF(p_); }
  Ref(Ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  Ref& operator=(const Ref& other) noexcept {
    Ref copy(other);
    swap(copy);
    return *this;
  }
  Ref& operator=(Ref&& other) noexcept {
    Ref moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~Ref() { Py_XDECREF(p_); }

  PyObject* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Gives the reference to the caller (e.g. to return it from a C method).
  [[nodiscard]] PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  // Drops the reference now. Py_CLEAR order: the pointer is cleared before the decref, so
  // a destructor that runs Python code never sees a dangling handle.
  void reset() noexcept {
    PyObject* old = std::exchange(p_, nullptr);
    Py_XDECREF(old);
  }
  void swap(Ref& other) noexcept { std::swap(p_, other.p_); }

 private:
  explicit Ref(PyObject* p) noexcept : p_(p) {}
  PyObject* p_ = nullptr;
};

}  // namespace gantry::py
