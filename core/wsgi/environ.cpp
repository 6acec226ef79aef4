// environ construction (PEP 3333), on the hot path of every request.
#include "wsgi/environ.hpp"

#include "gantry/http_rules.hpp"

namespace gantry::wsgi {
namespace {

constexpr std::size_t kMaxCachedKeys = 512;

py::Ref interned(std::string_view s) {
  PyObject* str = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
  if (str) PyUnicode_InternInPlace(&str);
  return py::Ref::steal(str);
}

bool set_item(PyObject* dict, const py::Ref& key, PyObject* value) {
  return value && PyDict_SetItem(dict, key.get(), value) == 0;
}

}  // namespace

bool EnvironKeys::init() {
  wsgi_url_scheme_ = interned("wsgi.url_scheme");
  wsgi_input_ = interned("wsgi.input");
  wsgi_errors_ = interned("wsgi.errors");
  wsgi_multithread_ = interned("wsgi.multithread");
  wsgi_multiprocess_ = interned("wsgi.multiprocess");
  wsgi_run_once_ = interned("wsgi.run_once");
  wsgi_file_wrapper_ = interned("wsgi.file_wrapper");
  wsgi_input_terminated_ = interned("wsgi.input_terminated");
  version_tuple_ = py::Ref::steal(Py_BuildValue("(ii)", 1, 0));
  http_ = interned("http");
  https_ = interned("https");
  py::Ref version_key = interned("wsgi.version");
  if (!wsgi_url_scheme_ || !wsgi_input_ || !wsgi_errors_ || !wsgi_multithread_ || !wsgi_multiprocess_ ||
      !wsgi_run_once_ || !wsgi_file_wrapper_ || !wsgi_input_terminated_ || !version_tuple_ || !http_ || !https_ ||
      !version_key) {
    return false;
  }
  wsgi_version_ = std::move(version_key);  // set last: ready() means "all set"
  return true;
}

PyObject* EnvironKeys::key(std::string_view name, py::Ref& scratch) {
  if (auto it = cgi_.find(name); it != cgi_.end()) return it->second.get();
  py::Ref str = interned(name);
  if (!str) return nullptr;
  if (cgi_.size() >= kMaxCachedKeys) {
    scratch = std::move(str);
    return scratch.get();
  }
  PyObject* borrowed = str.get();
  cgi_.emplace(std::string(name), std::move(str));
  return borrowed;
}

py::Ref build_environ(EnvironKeys& keys, std::span<const EnvEntry> cgi, const ServerTraits& traits,
                      PyObject* input, PyObject* errors, PyObject* file_wrapper, bool& is_head) {
  py::Ref environ = py::Ref::steal(PyDict_New());
  if (!environ) return {};
  PyObject* d = environ.get();
  bool https = false;
  is_head = false;
  for (const EnvEntry& e : cgi) {
    py::Ref scratch;
    PyObject* key = keys.key(e.key, scratch);
    if (!key) return {};
    py::Ref value = py::Ref::steal(
        PyUnicode_DecodeLatin1(e.value.data(), static_cast<Py_ssize_t>(e.value.size()), nullptr));
    if (!value || PyDict_SetItem(d, key, value.get()) < 0) return {};
    if (e.key == "HTTPS") {
      https = http::iequals(e.value, "on") || e.value == "1";
    } else if (e.key == "REQUEST_METHOD") {
      is_head = e.value == "HEAD";
    }
  }
  auto boolean = [](bool b) { return b ? Py_True : Py_False; };
  if (!set_item(d, keys.wsgi_version_, keys.version_tuple_.get()) ||
      !set_item(d, keys.wsgi_url_scheme_, https ? keys.https_.get() : keys.http_.get()) ||
      !set_item(d, keys.wsgi_input_, input) || !set_item(d, keys.wsgi_errors_, errors) ||
      !set_item(d, keys.wsgi_multithread_, boolean(traits.multithread)) ||
      !set_item(d, keys.wsgi_multiprocess_, boolean(traits.multiprocess)) ||
      !set_item(d, keys.wsgi_run_once_, boolean(traits.run_once)) ||
      !set_item(d, keys.wsgi_file_wrapper_, file_wrapper) ||
      !set_item(d, keys.wsgi_input_terminated_, Py_True)) {
    return {};
  }
  return environ;
}

}  // namespace gantry::wsgi
