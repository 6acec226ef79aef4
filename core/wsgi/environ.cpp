// environ construction (PEP 3333), on the hot path of every request.
#include "wsgi/environ.hpp"

#include "gantry/http_rules.hpp"

namespace gantry::wsgi {
namespace {

constexpr std::size_t kMaxCachedKeys = 512;
constexpr Py_ssize_t kWsgiKeys = 13;  // the wsgi.* and mod_wsgi.* entries build_environ adds

py::Ref interned(std::string_view s) {
  PyObject* str = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
  if (str) PyUnicode_InternInPlace(&str);
  return py::Ref::steal(str);
}

bool set_item(PyObject* dict, const py::Ref& key, PyObject* value) {
  return value && PyDict_SetItem(dict, key.get(), value) == 0;
}

bool set_int(PyObject* dict, const py::Ref& key, std::int64_t value) {
  py::Ref number = py::Ref::steal(PyLong_FromLongLong(value));
  return set_item(dict, key, number.get());
}

// The server passes apache.version as text (it crosses the daemon socket like every other
// variable); apps expect mod_wsgi's tuple.
constexpr std::string_view kApacheVersion = "apache.version";

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
  mod_wsgi_version_ = interned("mod_wsgi.version");
  mod_wsgi_thread_id_ = interned("mod_wsgi.thread_id");
  mod_wsgi_thread_requests_ = interned("mod_wsgi.thread_requests");
  mod_wsgi_total_requests_ = interned("mod_wsgi.total_requests");
  version_tuple_ = py::Ref::steal(Py_BuildValue("(ii)", 1, 0));
  mod_wsgi_version_tuple_ =
      py::Ref::steal(Py_BuildValue("(iii)", kModWsgiVersion[0], kModWsgiVersion[1], kModWsgiVersion[2]));
  http_ = interned("http");
  https_ = interned("https");
  py::Ref version_key = interned("wsgi.version");
  if (!wsgi_url_scheme_ || !wsgi_input_ || !wsgi_errors_ || !wsgi_multithread_ || !wsgi_multiprocess_ ||
      !wsgi_run_once_ || !wsgi_file_wrapper_ || !wsgi_input_terminated_ || !version_tuple_ || !http_ || !https_ ||
      !mod_wsgi_version_ || !mod_wsgi_thread_id_ || !mod_wsgi_thread_requests_ || !mod_wsgi_total_requests_ ||
      !mod_wsgi_version_tuple_ || !version_key) {
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

py::Ref version_tuple(std::string_view dotted) {
  py::Ref parts = py::Ref::steal(PyList_New(0));
  if (!parts) return {};
  while (!dotted.empty()) {
    std::size_t dot = dotted.find('.');
    std::string_view part = dotted.substr(0, dot);
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
    // Leading digits of each part; a part with anything after them ("62-dev") ends it.
    std::size_t digits = 0;
    long value = 0;
    while (digits < part.size() && digits < 9 && part[digits] >= '0' && part[digits] <= '9') {
      value = value * 10 + (part[digits++] - '0');
    }
    if (digits == 0) break;
    py::Ref number = py::Ref::steal(PyLong_FromLong(value));
    if (!number || PyList_Append(parts.get(), number.get()) < 0) return {};
    if (digits != part.size()) break;
  }
  return py::Ref::steal(PyList_AsTuple(parts.get()));
}

py::Ref build_environ(EnvironKeys& keys, std::span<const EnvEntry> cgi, const ServerTraits& traits,
                      const RequestCount& count, PyObject* input, PyObject* errors, PyObject* file_wrapper, bool& is_head) {
  // Presized: ~45 CGI variables plus the wsgi.* keys would otherwise grow the table
  // 8 -> 16 -> 32 -> 64, re-inserting every entry each time.
#if PY_VERSION_HEX < 0x030D0000
  py::Ref environ = py::Ref::steal(_PyDict_NewPresized(static_cast<Py_ssize_t>(cgi.size()) + kWsgiKeys));
#else
  py::Ref environ = py::Ref::steal(PyDict_New());
#endif
  if (!environ) return {};
  PyObject* d = environ.get();
  bool https = false;
  is_head = false;
  for (const EnvEntry& e : cgi) {
    py::Ref scratch;
    PyObject* key = keys.key(e.key, scratch);
    if (!key) return {};
    py::Ref value = e.key == kApacheVersion
                        ? version_tuple(e.value)
                        : py::Ref::steal(PyUnicode_DecodeLatin1(e.value.data(),
                                                                static_cast<Py_ssize_t>(e.value.size()), nullptr));
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
      !set_item(d, keys.wsgi_input_terminated_, Py_True) ||
      !set_item(d, keys.mod_wsgi_version_, keys.mod_wsgi_version_tuple_.get()) ||
      !set_int(d, keys.mod_wsgi_thread_id_, count.thread_id) ||
      !set_int(d, keys.mod_wsgi_thread_requests_, count.thread_requests) ||
      !set_int(d, keys.mod_wsgi_total_requests_, count.total_requests)) {
    return {};
  }
  return environ;
}

}  // namespace gantry::wsgi
