// start_response() validation and the body/header sending rules.
#include "wsgi/response.hpp"

#include <string>

#include "gantry/http_rules.hpp"
#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/log_ids.hpp"

namespace gantry::wsgi {
namespace {

// The latin-1 bytes of a str, without copying when CPython already stores it as latin-1
// (every str whose characters are all below U+0100). nullopt: not latin-1.
std::optional<std::string_view> latin1_view(PyObject* s) noexcept {
  if (PyUnicode_READY(s) < 0) {
    PyErr_Clear();
    return std::nullopt;
  }
  if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(s)),
                          static_cast<std::size_t>(PyUnicode_GET_LENGTH(s)));
}

}  // namespace

bool Response::start(PyObject* status, PyObject* headers, PyObject* exc_info) {
  // The exception types below are the ones mod_wsgi 4.9.4 raises in these cases (apps and
  // frameworks catch them by type); the messages are Gantry's own.
  if (exc_info == Py_None) exc_info = nullptr;
  if (exc_info && !PyTuple_Check(exc_info)) {
    PyErr_Format(PyExc_RuntimeError,
                 "start_response() exc_info must be a (type, value, traceback) tuple as sys.exc_info() "
                 "returns, not %.80s",
                 Py_TYPE(exc_info)->tp_name);
    return false;
  }
  if (headers_sent_) {
    if (!exc_info) {
      PyErr_SetString(PyExc_RuntimeError,
                      "start_response() called again after the response headers were sent; only a call "
                      "with exc_info (reporting an error) is allowed then, and it re-raises that error");
      return false;
    }
    // PEP 3333: too late to change the response; re-raise the app's exception.
    if (PyTuple_GET_SIZE(exc_info) != 3) {
      PyErr_Format(PyExc_TypeError, "start_response() exc_info must have 3 items (type, value, traceback), not %zd",
                   PyTuple_GET_SIZE(exc_info));
      return false;
    }
    PyObject* type = PyTuple_GET_ITEM(exc_info, 0);
    PyObject* value = PyTuple_GET_ITEM(exc_info, 1);
    PyObject* tb = PyTuple_GET_ITEM(exc_info, 2);
    if (type == Py_None) {  // (None, None, None): sys.exc_info() outside an except block
      PyErr_SetString(PyExc_RuntimeError,
                      "start_response() called again after the response headers were sent, with an empty "
                      "exc_info (sys.exc_info() outside an except block)");
      return false;
    }
    PyErr_Restore(Py_NewRef(type), Py_NewRef(value), tb == Py_None ? nullptr : Py_NewRef(tb));
    return false;
  }
  // Before any output a later call replaces the status and headers, with or without
  // exc_info (mod_wsgi accepts both; frameworks rely on it when an error page replaces a
  // half-built response).

  if (!PyUnicode_Check(status)) {
    PyErr_Format(PyExc_TypeError, "start_response() status must be str, not %.80s", Py_TYPE(status)->tp_name);
    return false;
  }
  auto status_bytes = latin1_view(status);
  if (!status_bytes) {
    PyErr_SetString(PyExc_ValueError, "start_response() status must be latin-1 text");
    return false;
  }
  auto code = http::parse_status_line(*status_bytes);
  if (!code) {
    PyErr_Format(PyExc_ValueError,
                 "start_response() status %R is not of the form '200 OK' (3-digit code 200-599, a space, a "
                 "reason phrase without control characters)",
                 status);
    return false;
  }

  std::vector<Header> parsed;
  std::optional<std::uint64_t> length;
  if (!parse_headers(headers, parsed, length)) return false;

  status_.assign(*status_bytes);
  status_code_ = *code;
  headers_ = std::move(parsed);
  content_length_ = length;
  started_ = true;
  return true;
}

bool Response::parse_headers(PyObject* headers, std::vector<Header>& out, std::optional<std::uint64_t>& length) {
  if (!PyList_Check(headers)) {
    PyErr_Format(PyExc_TypeError, "start_response() headers must be a list, not %.80s", Py_TYPE(headers)->tp_name);
    return false;
  }
  Py_ssize_t count = PyList_GET_SIZE(headers);
  out.reserve(static_cast<std::size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    if (!PyTuple_Check(item)) {
      PyErr_Format(PyExc_TypeError, "start_response() header #%zd must be a (name, value) tuple, not %R", i, item);
      return false;
    }
    if (PyTuple_GET_SIZE(item) != 2) {
      PyErr_Format(PyExc_ValueError, "start_response() header #%zd must be a (name, value) tuple of 2 items, not %R",
                   i, item);
      return false;
    }
    PyObject* name = PyTuple_GET_ITEM(item, 0);
    PyObject* value = PyTuple_GET_ITEM(item, 1);
    if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
      PyErr_Format(PyExc_TypeError, "start_response() header %R: name and value must both be str", item);
      return false;
    }
    auto name_bytes = latin1_view(name);
    if (!name_bytes || !http::is_token(*name_bytes)) {
      PyErr_Format(PyExc_ValueError,
                   "start_response() header name %R is not a valid HTTP field name (RFC 9110 token)", name);
      return false;
    }
    if (http::is_hop_by_hop(*name_bytes)) {
      PyErr_Format(PyExc_ValueError,
                   "start_response() header %R is hop-by-hop; the server manages the connection and a WSGI "
                   "application must not set it (PEP 3333)",
                   name);
      return false;
    }
    auto value_bytes = latin1_view(value);
    if (!value_bytes) {
      PyErr_Format(PyExc_ValueError, "start_response() header %R: value %R is not latin-1 text", name, value);
      return false;
    }
    if (http::find_bad_field_value_byte(*value_bytes)) {
      PyErr_Format(PyExc_ValueError,
                   "start_response() header %R: value %R contains a control character (CR, LF, NUL...)", name,
                   value);
      return false;
    }
    if (http::iequals(*name_bytes, "content-length")) {
      length = http::parse_content_length(*value_bytes);
      if (!length) {
        PyErr_Format(PyExc_ValueError, "start_response() header 'Content-Length' value %R is not a number",
                     value);
        return false;
      }
    }
    out.push_back(Header{std::string(*name_bytes), std::string(*value_bytes)});
  }
  return true;
}

Response::Send Response::channel_failed_with(const ChannelError& e) {
  failure_ = e.kind();
  if (e.kind() == ChannelError::Kind::client_gone) {
    // Clients hang up all the time: worth a note, not an error.
    log_.log(Level::info, ids::kClientGone,
             std::string("Client closed the connection while the response of WSGI script '")
                 .append(script_path_)
                 .append("' was being sent: ")
                 .append(e.what()));
  } else {
    log_.log(Level::error, ids::kChannelFailed,
             std::string("Failed to send the response of WSGI script '")
                 .append(script_path_)
                 .append("': ")
                 .append(e.what()));
  }
  return Send::failed;
}

std::optional<Response::Send> Response::require_started() {
  if (failure_) return Send::failed;
  if (!started_) {
    PyErr_SetString(PyExc_RuntimeError, "response body produced before start_response() was called");
    return std::nullopt;
  }
  return Send::ok;
}

std::optional<Response::Send> Response::finish_headers() {
  auto state = require_started();
  if (!state || *state != Send::ok || headers_sent_) return state;
  try {
    if (channel_.buffers_headers()) {
      channel_.start_response(status_, headers_);
    } else {
      py::GilRelease unlocked;
      channel_.start_response(status_, headers_);
    }
  } catch (const ChannelError& e) {
    headers_sent_ = true;  // unknown how much went out: treat as sent
    return channel_failed_with(e);
  } catch (const std::exception& e) {
    headers_sent_ = true;
    return channel_failed_with(ChannelError(ChannelError::Kind::internal, e.what()));
  }
  headers_sent_ = true;
  return Send::ok;
}

std::optional<Response::Send> Response::write(std::string_view data, bool flush) {
  // An empty chunk sends nothing, so it needs no start_response() yet either.
  if (data.empty()) return failure_ ? Send::failed : Send::ok;
  auto state = require_started();
  if (!state || *state != Send::ok) return state;
  if (content_length_) {
    std::uint64_t room = *content_length_ - std::min(sent_, *content_length_);
    if (data.size() > room) {
      if (!overflow_logged_) {
        overflow_logged_ = true;
        log_.log(Level::warning, ids::kContentLengthExceeded,
                 std::string("WSGI script '")
                     .append(script_path_)
                     .append("' returned more data than its Content-Length of ")
                     .append(std::to_string(*content_length_))
                     .append(" bytes; the excess was not sent"));
      }
      data = data.substr(0, static_cast<std::size_t>(room));
    }
  }
  if (data.empty()) return finish_headers();
  // The headers, if not sent yet, go with the first block.
  const bool send_headers = !headers_sent_;
  headers_sent_ = true;  // set while holding the GIL; on failure unknown how much went out
  try {
    // What the channel only buffers is done with the GIL kept (hello world: the whole
    // response); anything that may reach a socket goes under one release.
    const bool keep_gil = !flush && (!send_headers || channel_.buffers_headers());
    if (keep_gil && send_headers) channel_.start_response(status_, headers_);
    if (keep_gil && channel_.buffers_write(data.size())) {
      channel_.write(data);
    } else {
      py::GilRelease unlocked;
      if (send_headers && !keep_gil) channel_.start_response(status_, headers_);
      if (flush) channel_.write_flushed(data);
      else channel_.write(data);
    }
  } catch (const ChannelError& e) {
    return channel_failed_with(e);
  } catch (const std::exception& e) {
    return channel_failed_with(ChannelError(ChannelError::Kind::internal, e.what()));
  }
  sent_ += data.size();
  return Send::ok;
}

std::optional<bool> Response::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  auto state = finish_headers();
  if (!state) return std::nullopt;
  if (*state != Send::ok) return true;  // nothing more can go out; do not fall back
  if (length == 0) return true;
  bool done = false;
  try {
    if (channel_.buffers_file()) {
      done = channel_.send_file(fd, offset, length);  // queued: no wait, keep the GIL
    } else {
      py::GilRelease unlocked;
      done = channel_.send_file(fd, offset, length);
    }
  } catch (const ChannelError& e) {
    channel_failed_with(e);
    return true;
  } catch (const std::exception& e) {
    channel_failed_with(ChannelError(ChannelError::Kind::internal, e.what()));
    return true;
  }
  if (done) sent_ += length;
  return done;
}

bool Response::body_may_be_short() const noexcept {
  return head_request_ || status_code_ < 200 || status_code_ == 204 || status_code_ == 304;
}

}  // namespace gantry::wsgi
