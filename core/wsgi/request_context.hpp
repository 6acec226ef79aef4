#pragma once
// The request a thread is running, as mod_wsgi's Python API sees it: request_data() (the
// per-request scratch dict, created the first time someone asks), active_requests (every
// running request of an interpreter, by request id), and the observer that publishes the
// request's events and records its metrics when anyone listens. One per request, on the
// stack of the request; registered as the thread's current request for its duration (see
// request_counters.hpp). Touched only with the GIL held.
#include <Python.h>

#include <span>
#include <string_view>

#include "gantry/channel.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/request_counters.hpp"

namespace gantry::wsgi {

struct Interpreter;
class RequestObserver;

struct RequestContext {
  RequestContext(Interpreter& interpreter, std::span<const EnvEntry> cgi, RequestCount count) noexcept
      : interpreter(interpreter), cgi(cgi), count(count) {}

  Interpreter& interpreter;
  std::span<const EnvEntry> cgi;     // the channel's CGI variables (valid for the request)
  RequestCount count;
  py::Ref data;                      // request_data(); empty until first asked for
  RequestObserver* observer = nullptr;  // set while events are published / metrics recorded

  // The CGI variable `key` ("" when absent): mod_wsgi.request_id, mod_wsgi.request_start...
  std::string_view env(std::string_view key) const noexcept;
  // request_data(), created on first use. Borrowed; nullptr with a Python error on failure.
  PyObject* request_data();
  // mod_wsgi.request_id as str (Apache's log id for the request), or None. New reference.
  py::Ref request_id() const;
};

// Registers `context` as the calling thread's request for this scope.
class CurrentRequest {
 public:
  explicit CurrentRequest(RequestContext& context) noexcept { set_current_request(&context); }
  ~CurrentRequest() { set_current_request(nullptr); }
  CurrentRequest(const CurrentRequest&) = delete;
  CurrentRequest& operator=(const CurrentRequest&) = delete;
};

// mod_wsgi.active_requests for `interpreter`: {request_id: request_data dict} of the requests
// running in it now. New reference, or nullptr with a Python error.
PyObject* active_requests_of(const Interpreter& interpreter);

// "1796312374664160" (microseconds since the epoch, as the server passes times) -> seconds.
double seconds_from_micros(std::string_view text) noexcept;

}  // namespace gantry::wsgi
