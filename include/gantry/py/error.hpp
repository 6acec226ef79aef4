#pragma once
// The Python error indicator as C++ scopes.
//   ErrorScope: fetches a pending exception on entry and puts it back on exit (unless
//     taken with take()), so cleanup code (close(), logging) can call into Python without
//     clobbering or being confused by the error being reported.
//   guarded(): runs the body of a Python-callable C function; a C++ exception becomes a
//     Python exception instead of unwinding through the interpreter.
#include <Python.h>

#include <exception>
#include <new>
#include <utility>

#include "gantry/py/ref.hpp"

namespace gantry::py {

struct FetchedError {
  Ref type, value, traceback;
  explicit operator bool() const noexcept { return static_cast<bool>(type); }
};

class ErrorScope {
 public:
  ErrorScope() noexcept {
    PyObject *t = nullptr, *v = nullptr, *tb = nullptr;
    PyErr_Fetch(&t, &v, &tb);
    error_.type = Ref::steal(t);
    error_.value = Ref::steal(v);
    error_.traceback = Ref::steal(tb);
  }
  ~ErrorScope() {
    if (error_.type) {
      PyErr_Restore(error_.type.release(), error_.value.release(), error_.traceback.release());
    }
  }
  ErrorScope(const ErrorScope&) = delete;
  ErrorScope& operator=(const ErrorScope&) = delete;

  bool has_error() const noexcept { return static_cast<bool>(error_.type); }
  const FetchedError& error() const noexcept { return error_; }
  // Takes the error out: it will not be restored.
  FetchedError take() noexcept { return std::move(error_); }

 private:
  FetchedError error_;
};

// Fetches and normalizes the pending exception (clearing the indicator).
inline FetchedError fetch_error() noexcept {
  PyObject *t = nullptr, *v = nullptr, *tb = nullptr;
  PyErr_Fetch(&t, &v, &tb);
  if (t) PyErr_NormalizeException(&t, &v, &tb);
  if (v && tb) PyException_SetTraceback(v, tb);
  return FetchedError{Ref::steal(t), Ref::steal(v), Ref::steal(tb)};
}

inline void restore_error(FetchedError&& e) noexcept {
  PyErr_Restore(e.type.release(), e.value.release(), e.traceback.release());
}

// Runs `body` (returning PyObject* or int); any escaping C++ exception becomes a Python
// exception and the C-API failure value (nullptr / -1).
template <typename Result, typename Body>
Result guarded(Result failure, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unexpected C++ exception in Gantry");
  }
  return failure;
}

}  // namespace gantry::py
