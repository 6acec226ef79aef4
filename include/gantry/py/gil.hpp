#pragma once
// GIL guards.
//   GilRelease: Py_BEGIN/END_ALLOW_THREADS as a scope. Used around every call into the
//     server (channel reads/writes, log sinks) so other Python threads run meanwhile. The
//     destructor re-takes the GIL also when the server call throws.
//   ThreadStateActivation: makes a given (OS thread, interpreter) thread state current and
//     holds the GIL for the scope; restores whatever was current before. Works whether the
//     thread held no GIL (the normal case for a server thread) or held it with another
//     thread state (nested use, e.g. creating a sub-interpreter from the main one).
#include <Python.h>

#include "gantry/py/cpython_internals.hpp"

namespace gantry::py {

// The thread state this OS thread has current (and so: holds the GIL with), or null.
// Not simply the unchecked current state: in 3.11 that is the process-wide "state holding
// the GIL", which belongs to another thread whenever this one does not hold it. (Not
// PyGILState_GetThisThreadState() either: that is this thread's state in the main
// interpreter, also while one of a sub-interpreter is current.)
inline PyThreadState* this_thread_state() noexcept {
  PyThreadState* current = internals::current_thread_state_unchecked();
  return (current && internals::thread_ident(current) == PyThread_get_thread_ident()) ? current : nullptr;
}

class GilRelease {
 public:
  GilRelease() noexcept : saved_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(saved_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* saved_;
};

// Releases the GIL only if this thread holds it (some helpers are called both ways).
class GilReleaseIfHeld {
 public:
  GilReleaseIfHeld() noexcept : saved_(this_thread_state() ? PyEval_SaveThread() : nullptr) {}
  ~GilReleaseIfHeld() {
    if (saved_) PyEval_RestoreThread(saved_);
  }
  GilReleaseIfHeld(const GilReleaseIfHeld&) = delete;
  GilReleaseIfHeld& operator=(const GilReleaseIfHeld&) = delete;

 private:
  PyThreadState* saved_;
};

class ThreadStateActivation {
 public:
  // `target` must belong to the calling OS thread.
  explicit ThreadStateActivation(PyThreadState* target) noexcept
      : target_(target), previous_(this_thread_state()) {
    if (previous_ == target_) return;  // already current: nothing to do or undo
    if (previous_) {
      PyThreadState_Swap(target_);  // same thread keeps the (shared, 3.11) GIL
    } else {
      PyEval_RestoreThread(target_);  // takes the GIL
    }
  }
  ~ThreadStateActivation() {
    if (previous_ == target_) return;
    if (previous_) {
      PyThreadState_Swap(previous_);
    } else {
      PyEval_SaveThread();  // drops the GIL, leaves no thread state current
    }
  }
  ThreadStateActivation(const ThreadStateActivation&) = delete;
  ThreadStateActivation& operator=(const ThreadStateActivation&) = delete;

 private:
  PyThreadState* target_;
  PyThreadState* previous_;
};

}  // namespace gantry::py
