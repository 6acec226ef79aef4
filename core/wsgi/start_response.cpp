// start_response / write callables (PEP 3333 "The start_response() Callable").
#include "wsgi/start_response.hpp"

#include "gantry/py/error.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/py_object.hpp"
#include "wsgi/request_events.hpp"

namespace gantry::wsgi {
namespace {

struct StartResponse {
  Response* response;
};

Response* response_of(PyObject* self) {
  Response* r = payload_of<StartResponse>(self).response;
  if (!r) PyErr_SetString(PyExc_ValueError, "start_response()/write() used after its request completed");
  return r;
}

PyObject* start_response_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    static const char* keywords[] = {"status", "headers", "exc_info", nullptr};
    PyObject *status = nullptr, *headers = nullptr, *exc_info = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", const_cast<char**>(keywords), &status,
                                     &headers, &exc_info)) {
      return nullptr;
    }
    Response* response = response_of(self);
    if (!response || !response->start(status, headers, exc_info)) return nullptr;
    notify_response_started(status, headers, exc_info == Py_None ? nullptr : exc_info);  // mod_wsgi's event
    return PyObject_GetAttrString(self, "write");
  });
}

PyObject* write_method(PyObject* self, PyObject* data) {
  return py::guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    Response* response = response_of(self);
    if (!response) return nullptr;
    if (!PyBytes_Check(data)) {
      PyErr_Format(PyExc_TypeError, "write() argument must be bytes, not %.80s", Py_TYPE(data)->tp_name);
      return nullptr;
    }
    py::Ref keep = py::Ref::borrow(data);  // the GIL is dropped while the channel sends it
    auto sent = response->write(std::string_view(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data))),
                                /*flush=*/true);
    if (!sent) return nullptr;
    if (*sent == Response::Send::failed) {
      PyErr_SetString(PyExc_OSError,
                      response->client_gone() ? "client connection closed" : "failed to write response data");
      return nullptr;
    }
    Py_RETURN_NONE;
  });
}

PyMethodDef start_response_methods[] = {
    {"write", write_method, METH_O, "write(data: bytes): send body bytes now (PEP 3333 write callable)."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

PyTypeObject StartResponseType = [] {
  PyTypeObject t = blank_type();
  t.tp_name = "mod_wsgi.StartResponse";
  t.tp_basicsize = sizeof(PyBox<StartResponse>);
  t.tp_dealloc = dealloc_boxed<StartResponse>;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "start_response(status, headers, exc_info=None) -> write";
  t.tp_call = start_response_call;
  t.tp_methods = start_response_methods;
  return t;
}();

PyObject* new_start_response(Response& response) {
  return new_boxed<StartResponse>(&StartResponseType, StartResponse{&response});
}

void detach_start_response(PyObject* start_response) noexcept {
  payload_of<StartResponse>(start_response).response = nullptr;
}

bool ready_start_response_type() noexcept { return PyType_Ready(&StartResponseType) == 0; }

}  // namespace gantry::wsgi
