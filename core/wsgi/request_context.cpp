// request_data(), active_requests and the lookups the events need (request_context.hpp).
#include "wsgi/request_context.hpp"

#include <charconv>

namespace gantry::wsgi {

std::string_view RequestContext::env(std::string_view key) const noexcept {
  for (const EnvEntry& e : cgi) {
    if (e.key == key) return e.value;
  }
  return {};
}

PyObject* RequestContext::request_data() {
  if (!data) data = py::Ref::steal(PyDict_New());
  return data.get();
}

py::Ref RequestContext::request_id() const {
  std::string_view id = env("mod_wsgi.request_id");
  if (id.empty()) return py::Ref::borrow(Py_None);
  return py::Ref::steal(PyUnicode_DecodeLatin1(id.data(), static_cast<Py_ssize_t>(id.size()), nullptr));
}

PyObject* active_requests_of(const Interpreter& interpreter) {
  py::Ref out = py::Ref::steal(PyDict_New());
  if (!out) return nullptr;
  // The contexts stay valid while we hold the GIL: a request clears itself holding it.
  for (const ThreadSnapshot& t : thread_snapshot()) {
    RequestContext* request = t.current;
    if (!request || &request->interpreter != &interpreter) continue;
    py::Ref id = request->request_id();
    PyObject* data = id ? request->request_data() : nullptr;
    if (!data || PyDict_SetItem(out.get(), id.get(), data) < 0) return nullptr;
  }
  return out.release();
}

double seconds_from_micros(std::string_view text) noexcept {
  long long micros = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), micros);
  if (error != std::errc() || end != text.data() + text.size()) return 0.0;
  return static_cast<double>(micros) / 1e6;
}

}  // namespace gantry::wsgi
