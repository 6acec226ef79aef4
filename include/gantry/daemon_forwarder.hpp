#pragma once
// The Apache end of the protocol: hands one request to a daemon process over a connected
// socket and relays the daemon's answer into the Apache-side RequestChannel.
//
//   const ScopedFd fd(/* socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) + connect, with connect-timeout */);
//   ForwardResult r = forward_request(fd.get(), secret, embedded_channel, limits);
//   if (r.failure != ForwardFailure::none) log(r.detail);         // GANTRY03xx line
//   if (!r.response_started && r.http_status() != 0) return r.http_status();
//
// What it does: sends HELLO + REQUEST (environ and traits of `apache_side`) in one write;
// then pumps until END: body from apache_side.read() to the daemon as the daemon grants
// credit, and RESPONSE_START/DATA/FILE/FLUSH/LOG into apache_side.start_response/write/
// send_file/flush/log. Never throws; every way the exchange can fail is a ForwardFailure
// with a complete log line in `detail`. The descriptor stays the caller's.
#include <chrono>
#include <cstddef>
#include <string>

#include "gantry/channel.hpp"
#include "gantry/protocol.hpp"

namespace gantry {

struct ForwardLimits {
  // Longest wait for the daemon on any one read or write (socket-timeout). Waiting for
  // the application to produce its response headers counts as one wait. Must be > 0
  // (resolve socket-timeout=0 to Apache's Timeout before calling).
  std::chrono::milliseconds socket_timeout = std::chrono::seconds(300);
  // Largest single response header, name and value, or status line (header-buffer-size).
  std::size_t header_buffer_size = 32768;
};

enum class ForwardFailure {
  none,              // END arrived: `outcome` is the daemon's
  daemon_closed,     // the daemon hung up without END (crashed, killed, restarted)
  timeout,           // no progress from the daemon within socket_timeout
  header_too_large,  // a response header over header_buffer_size; nothing was sent
  protocol_error,    // the daemon sent bytes that break the protocol
  unexpected_descriptor,  // the daemon passed file descriptors no FILE frame asked for
  daemon_aborted,    // the daemon sent ABORT
  client_gone,       // the HTTP client went away (a write or read on apache_side failed)
};

struct ForwardResult {
  Outcome outcome = Outcome::server_error;
  ForwardFailure failure = ForwardFailure::none;
  std::string detail;  // "" when failure == none; else a log line starting "GANTRY03nn: "
  bool response_started = false;  // apache_side.start_response was called
  std::size_t peak_buffer_bytes = 0;  // most bytes the forwarder's buffers held at once

  // The status to answer when no response has started: 404 / 500 for the daemon's
  // not_found / server_error (and 500 for a daemon that aborted before any headers), 502 for a daemon that failed or broke the protocol, 504 for
  // a timeout, 500 for an oversized header. 0 when a response is under way or done (the
  // connection is then aborted if the outcome is not ok).
  int http_status() const;
};

ForwardResult forward_request(int fd, const protocol::Secret& secret, RequestChannel& apache_side,
                              const ForwardLimits& limits = {});

}  // namespace gantry
