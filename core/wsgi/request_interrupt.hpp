#pragma once
// interrupt-timeout (daemon mode): raising mod_wsgi.RequestTimeout in a request thread that
// outlived request-timeout, and reading its Python stack for the log.
//
// Why an asynchronous exception: the stuck thread is inside the application and will not
// look at anything we could set; PyThreadState_SetAsyncExc() makes the interpreter raise in
// that thread at its next bytecode. A thread blocked in C (a socket read, time.sleep) sees
// it only when the call returns, which is why the daemon restarts the process when the
// request has not ended interrupt-timeout later.
#include <Python.h>

#include <string>

namespace gantry::wsgi {

// Adds the RequestTimeout class (a BaseException, as in mod_wsgi 6) to an interpreter's
// mod_wsgi module, so an application can catch it by name. False with a Python error set.
bool add_request_timeout_class(PyObject* mod_wsgi_module);

// Whether an exception of `exception_type` is (a subclass of) the current interpreter's
// mod_wsgi.RequestTimeout: the request is answered 504 instead of as an app error. GIL
// held; leaves the error indicator as it was.
bool is_request_timeout(PyObject* exception_type) noexcept;

// Finds the Python thread `thread_id` (threading.get_ident(), i.e. its pthread id) in any
// interpreter, writes its formatted stack into `*stack` and raises mod_wsgi.RequestTimeout
// in it. Takes the GIL: call it from a thread that may block (a deadlocked GIL blocks it).
// False if no such thread runs Python now.
bool interrupt_thread(unsigned long thread_id, std::string* stack) noexcept;

}  // namespace gantry::wsgi
