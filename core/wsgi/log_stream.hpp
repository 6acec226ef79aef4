#pragma once
// File-like objects that turn what Python writes into log lines:
//   - sys.stdout / sys.stderr of every interpreter (to the process Logger), and
//   - wsgi.errors of each request (to the request's channel).
// Each is a text stream shaped like the io.TextIOWrapper mod_wsgi installs (encoding
// 'utf-8', errors 'replace', line-buffered, registered as an io.TextIOBase) over a binary
// `.buffer` that takes bytes, bytearray and memoryview, as mod_wsgi 6's does. Both write
// into one pending line: a line is logged when its newline arrives; flush() and
// end-of-request push out a partial line. Also the "restricted" stand-in used for
// sys.stdin / sys.stdout when WSGIRestrictStdin / WSGIRestrictStdout is On, whose every
// attribute access raises OSError naming the directive.
#include <Python.h>

#include <string>

#include "gantry/channel.hpp"
#include "gantry/log.hpp"

namespace gantry::wsgi {

extern PyTypeObject LogStreamType;
extern PyTypeObject LogBufferType;
extern PyTypeObject RestrictedStreamType;

// A new log stream writing lines tagged `id` at `level`. `channel` may be null (process
// logger); `name` is the stream's .name ("<stdout>", "<wsgi.errors>").
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

// Registers the stream types with the current interpreter's io ABCs (io.TextIOBase,
// io.BufferedIOBase), so isinstance() checks of libraries see what they see under
// mod_wsgi. False with a Python error set on failure.
bool register_log_stream_abcs() noexcept;

}  // namespace gantry::wsgi
