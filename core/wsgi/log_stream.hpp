#pragma once
// File-like objects that turn Python text writes into log lines:
//   - sys.stdout / sys.stderr of every interpreter (to the process Logger), and
//   - wsgi.errors of each request (to the request's channel).
// Line-buffered: a line is logged when its newline arrives; flush() and end-of-request
// push out a partial line. Also the "restricted" stand-in used for sys.stdin (and
// sys.stdout with WSGIRestrictStdout On), whose every attribute access raises OSError
// naming the directive.
#include <Python.h>

#include <string>

#include "gantry/channel.hpp"
#include "gantry/log.hpp"

namespace gantry::wsgi {

extern PyTypeObject LogStreamType;
extern PyTypeObject RestrictedStreamType;

// A new log stream writing lines tagged `id` at `level`. `channel` may be null (process
// logger); `name` is the stream's .name ("<stdout>", "wsgi.errors").
PyObject* new_log_stream(Logger* logger, RequestChannel* channel, Level level, const char* id,
                         const char* name);

// Logs a pending partial line and detaches the stream from its channel (later writes go
// to the process logger). Called at request end. GIL held.
void detach_log_stream(PyObject* stream) noexcept;

// Logs a pending partial line. GIL held.
void flush_log_stream(PyObject* stream) noexcept;

// `what` like "sys.stdin", `directive` like "WSGIRestrictStdin".
PyObject* new_restricted_stream(const char* what, const char* directive);

bool ready_log_stream_types() noexcept;

}  // namespace gantry::wsgi
