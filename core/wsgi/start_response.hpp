#pragma once
// The start_response callable handed to the app, and the write() callable it returns.
// Both forward to the request's Response; after the request they raise ValueError.
#include <Python.h>

#include "wsgi/response.hpp"

namespace gantry::wsgi {

extern PyTypeObject StartResponseType;

PyObject* new_start_response(Response& response);
void detach_start_response(PyObject* start_response) noexcept;
bool ready_start_response_type() noexcept;

}  // namespace gantry::wsgi
