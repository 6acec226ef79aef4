#pragma once
// The only place Gantry reaches past CPython's public C API. Everything else uses the
// documented functions; what is here has no public equivalent in the versions built for.
//
// Checked against CPython 3.11 (Debian 12's 3.11.2) and the 3.12 and 3.13 headers:
//   - PyThreadState::thread_id (the OS thread ident, what PyThread_get_thread_ident()
//     returns and PyThreadState_SetAsyncExc() takes) has no getter in any of them;
//     PyThreadState_GetID() is a different number (a per-process serial).
//   - _PyThreadState_UncheckedGet() became public as PyThreadState_GetUnchecked() in 3.13
//     and is used under that name there.
// A new CPython version: re-check both against its Include/cpython/pystate.h.
#include <Python.h>

namespace gantry::py::internals {

// The OS thread ident `ts` runs on (no public getter: see above).
inline unsigned long thread_ident(const PyThreadState* ts) noexcept { return ts->thread_id; }

// The thread state holding the GIL, without the fatal error PyThreadState_Get() raises
// when there is none. In 3.11 this is process-wide, not per thread: see this_thread_state().
inline PyThreadState* current_thread_state_unchecked() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return PyThreadState_GetUnchecked();
#else
  return _PyThreadState_UncheckedGet();
#endif
}

}  // namespace gantry::py::internals
