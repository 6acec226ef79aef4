#pragma once
// The response side of one request: status and headers as start_response() set them, and
// the rules for when and how much goes to the channel (PEP 3333 "Buffering and
// Streaming": headers leave at the first non-empty body chunk or when the iterable is
// exhausted; never more than a declared Content-Length).
//
// All methods run with the GIL held and release it around channel calls.
#include <Python.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/channel.hpp"
#include "wsgi/log_target.hpp"

namespace gantry::wsgi {

class Response {
 public:
  Response(RequestChannel& channel, const LogTarget& log, std::string_view script_path) noexcept
      : channel_(channel), log_(log), script_path_(script_path) {}

  enum class Send {
    ok,
    failed,  // the channel failed (client gone, timeout...): stop producing output
  };

  // start_response(status, headers, exc_info): validates and records. Returns false with
  // a Python exception set (including the re-raised exc_info).
  bool start(PyObject* status, PyObject* headers, PyObject* exc_info);

  // Body bytes. Empty data sends nothing (headers wait). Non-empty data requires start()
  // first: returns nullopt with a Python RuntimeError otherwise.
  std::optional<Send> write(std::string_view data, bool flush);

  // Sends the headers if they have not gone yet. Same return convention as write().
  std::optional<Send> finish_headers();

  // send_file() of `length` bytes; false if the channel cannot (caller falls back).
  std::optional<bool> send_file(int fd, std::uint64_t offset, std::uint64_t length);

  bool started() const noexcept { return started_; }
  bool headers_sent() const noexcept { return headers_sent_; }
  bool channel_failed() const noexcept { return failure_.has_value(); }
  bool client_gone() const noexcept { return failure_ == ChannelError::Kind::client_gone; }
  const std::optional<std::uint64_t>& content_length() const noexcept { return content_length_; }
  std::uint64_t bytes_sent() const noexcept { return sent_; }
  int status_code() const noexcept { return status_code_; }

  // For the adapter's checks at the end: a response that may legitimately carry fewer
  // body bytes than its Content-Length (HEAD, 1xx, 204, 304).
  void set_head_request(bool head) noexcept { head_request_ = head; }
  bool body_may_be_short() const noexcept;

 private:
  bool parse_headers(PyObject* headers, std::vector<Header>& out, std::optional<std::uint64_t>& length);
  Send channel_failed_with(const ChannelError& e);
  std::optional<Send> require_started();

  RequestChannel& channel_;
  LogTarget log_;
  std::string_view script_path_;
  bool started_ = false;
  bool headers_sent_ = false;
  bool head_request_ = false;
  bool overflow_logged_ = false;
  int status_code_ = 0;
  std::string status_;
  std::vector<Header> headers_;
  std::optional<std::uint64_t> content_length_;
  std::uint64_t sent_ = 0;
  std::optional<ChannelError::Kind> failure_;
};

}  // namespace gantry::wsgi
