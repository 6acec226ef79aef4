#pragma once
// wsgi.input: the request body as a binary file-like object streaming from
// RequestChannel::read() through a small internal buffer. Nothing is read before the app
// asks, and read(n) fills the caller's bytes object directly (no intermediate copy).
#include <Python.h>

#include "gantry/channel.hpp"

namespace gantry::wsgi {

extern PyTypeObject InputStreamType;

PyObject* new_input_stream(RequestChannel& channel);
// Called at request end: later use raises ValueError instead of touching a dead channel.
void detach_input_stream(PyObject* stream) noexcept;
bool ready_input_stream_type() noexcept;

}  // namespace gantry::wsgi
