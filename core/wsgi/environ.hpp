#pragma once
// Builds the WSGI environ dict for one request (PEP 3333 "environ Variables"): the
// channel's CGI variables as native str decoded latin-1, plus the wsgi.* keys, plus the
// keys mod_wsgi 4.9.4 computes in the process running the app: mod_wsgi.version,
// mod_wsgi.thread_id, mod_wsgi.thread_requests, mod_wsgi.total_requests (ints), and
// apache.version, which the server passes as "major.minor.patch" and apps see as a tuple
// of ints (as under mod_wsgi).
#include <Python.h>

#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gantry/channel.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/request_counters.hpp"

namespace gantry::wsgi {

// Per-interpreter key strings, interned once so each request's dict inserts reuse the
// same str objects (and their cached hashes). Only touched with that interpreter's GIL.
class EnvironKeys {
 public:
  bool init();  // in the owning interpreter, GIL held; false with a Python error set
  bool ready() const noexcept { return static_cast<bool>(wsgi_version_); }
  // Borrowed reference to the interned key; a new reference in `scratch` when the
  // cache is full (clients choose HTTP_* names, so the cache is bounded).
  PyObject* key(std::string_view name, py::Ref& scratch);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

 private:
  friend py::Ref build_environ(EnvironKeys&, std::span<const EnvEntry>, const ServerTraits&,
                               const RequestCount&, PyObject*, PyObject*, PyObject*, bool&);
  std::unordered_map<std::string, py::Ref, Hash, std::equal_to<>> cgi_;
  py::Ref wsgi_version_, wsgi_url_scheme_, wsgi_input_, wsgi_errors_, wsgi_multithread_, wsgi_multiprocess_,
      wsgi_run_once_, wsgi_file_wrapper_, wsgi_input_terminated_;
  py::Ref mod_wsgi_version_, mod_wsgi_thread_id_, mod_wsgi_thread_requests_, mod_wsgi_total_requests_;
  py::Ref version_tuple_, mod_wsgi_version_tuple_, http_, https_;
};

// `cgi` and `traits` were fetched from the channel before the GIL was taken; `count` is
// this request's count_request().
// New environ dict, or empty Ref with a Python error set. `is_head` tells whether
// REQUEST_METHOD is HEAD (the adapter's Content-Length checks need it).
py::Ref build_environ(EnvironKeys& keys, std::span<const EnvEntry> cgi, const ServerTraits& traits,
                      const RequestCount& count, PyObject* input, PyObject* errors, PyObject* file_wrapper, bool& is_head);

// "2.4.62" -> (2, 4, 62): the version parts that parse as numbers, in order. New reference,
// or empty Ref with a Python error set.
py::Ref version_tuple(std::string_view dotted);

// The mod_wsgi version Gantry mirrors (behaviour, environ, mod_wsgi.version): Debian 12's.
inline constexpr int kModWsgiVersion[] = {4, 9, 4};

}  // namespace gantry::wsgi
