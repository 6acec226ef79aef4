// forward_request: the Apache child's end of the daemon protocol (see daemon_forwarder.hpp).
//
// One thread, one non-blocking socket, one poll() loop. Each turn: produce body bytes if
// the daemon granted credit and the previous chunk is out; send what is queued; handle
// every frame that has arrived; wait (socket_timeout) only when none of that moved.
// Sending and receiving are interleaved so that neither side can block the other.
#include "gantry/daemon_forwarder.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gantry/frame_io.hpp"
#include "gantry/http_rules.hpp"
#include "gantry/scoped_fd.hpp"

namespace gantry {

using protocol::FrameReader;
using protocol::FrameType;
using protocol::FrameWriter;
using protocol::ProtocolError;

namespace {

constexpr std::uint64_t kMaxCredit = std::uint64_t{1} << 40;  // saturates a runaway grant

std::string seconds_text(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

class Forwarder {
 public:
  Forwarder(int fd, RequestChannel& apache, const ForwardLimits& limits)
      : fd_(fd),
        apache_(apache),
        limits_(limits),
        reader_(fd, /*accept_fds=*/true),
        writer_(fd),
        poll_timeout_ms_(static_cast<int>(
            std::clamp<std::int64_t>(limits.socket_timeout.count(), 0, INT32_MAX))) {}

  ForwardResult run(const protocol::Secret& secret);

 private:
  void fail(ForwardFailure failure, std::string detail);
  void fail_client_gone(const char* while_doing, const ChannelError& error);
  void produce_body();
  void send_queued(bool& progressed);
  void receive_frames(bool& progressed);
  void handle(const FrameReader::Frame& frame);
  void on_response_start(std::string_view payload);
  void on_file(std::string_view payload);
  void copy_file(int fd, std::uint64_t offset, std::uint64_t length);
  void protocol_failure(const std::string& what,
                        ForwardFailure failure = ForwardFailure::protocol_error);
  void protocol_error(const ProtocolError& error);

  int fd_;
  RequestChannel& apache_;
  const ForwardLimits& limits_;
  FrameReader reader_;
  FrameWriter writer_;
  protocol::ChunkBuffer body_buffer_;  // the chunk being sent; allocated on the first grant
  protocol::ChunkBuffer file_buffer_;  // only for a FILE apache_side cannot sendfile()

  std::uint64_t credit_ = 0;
  bool body_done_ = false;
  bool request_sent_ = false;  // all of HELLO + REQUEST left
  bool send_broken_ = false;   // the daemon stopped reading; keep listening to it
  bool done_ = false;
  // Whether a recv may find something: false right after the request went out (the daemon
  // cannot have answered yet) and after a recv said EAGAIN, until poll() says otherwise.
  bool maybe_readable_ = false;
  int poll_timeout_ms_;
  ForwardResult result_;
};

void Forwarder::fail(ForwardFailure failure, std::string detail) {
  result_.failure = failure;
  result_.detail = std::move(detail);
  result_.outcome = result_.response_started || failure == ForwardFailure::client_gone
                        ? Outcome::aborted
                        : Outcome::server_error;
  done_ = true;
  // Descriptors a failed exchange passed are closed now, not when the request ends.
  reader_.discard_fds();
  // Whatever the daemon is doing for this request is wasted now: its next read or write
  // fails at once (client_gone), instead of when the caller gets round to close().
  ::shutdown(fd_, SHUT_RDWR);
}

void Forwarder::fail_client_gone(const char* while_doing, const ChannelError& error) {
  fail(ForwardFailure::client_gone,
       std::string("GANTRY0316: the client connection failed while ") + while_doing +
           "; the daemon's request is abandoned: " + error.what());
}

void Forwarder::protocol_failure(const std::string& what, ForwardFailure failure) {
  fail(failure,
       "GANTRY0314: the daemon process broke the protocol" +
           std::string(result_.response_started ? " in the middle of the response: "
                                                : " before sending response headers: ") +
           what);
}

// A descriptor where the protocol has none is not a version mismatch: the application
// wrote to its daemon socket itself. Its own failure kind, so the line says so.
void Forwarder::protocol_error(const ProtocolError& error) {
  protocol_failure(error.what(), error.kind() == ProtocolError::Kind::unexpected_descriptor
                                     ? ForwardFailure::unexpected_descriptor
                                     : ForwardFailure::protocol_error);
}

void Forwarder::produce_body() {
  char* const buffer = body_buffer_.get(protocol::kMaxChunk);
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(credit_, body_buffer_.size()));
  std::size_t got = 0;
  try {
    got = apache_.read(buffer, want);
  } catch (const ChannelError& error) {
    body_done_ = true;
    if (error.kind() == ChannelError::Kind::client_gone) {
      // The application's read() raises this very error, as embedded: one attempt to tell
      // it (without waiting: the ABORT is small and nothing else is queued), then the
      // exchange ends.
      writer_.append([&](std::string& out) { protocol::append_abort(out, error.kind(), error.what()); });
      try {
        writer_.send_some();
      } catch (const ChannelError&) {
        // The daemon is gone too: nobody left to tell.
      }
      fail_client_gone("reading the request body", error);
      return;
    }
    // A bad or timed-out body: the application gets the very same error from its read(),
    // as it would in embedded mode, and may still answer (400, 408, ...).
    writer_.append([&](std::string& out) { protocol::append_abort(out, error.kind(), error.what()); });
    return;
  }
  if (got == 0) {
    body_done_ = true;
    writer_.append([](std::string& out) { protocol::append_empty(out, FrameType::body_end); });
    return;
  }
  credit_ -= got;
  writer_.append_borrowed(FrameType::body, std::string_view(buffer, got));
}

void Forwarder::send_queued(bool& progressed) {
  try {
    if (writer_.send_some()) {
      progressed = true;
      request_sent_ = true;
    }
  } catch (const ChannelError&) {
    // The daemon closed its end or reset. What it sent before that (maybe a complete
    // response: an application need not read the body) is still to be read; the read side
    // decides how this request ended.
    send_broken_ = true;
    body_done_ = true;
    writer_.discard();
    progressed = true;
  }
}

void Forwarder::receive_frames(bool& progressed) {
  while (!done_) {
    FrameReader::Result result;
    try {
      result = reader_.try_read(maybe_readable_);
    } catch (const ProtocolError& error) {
      protocol_error(error);
      return;
    } catch (const ChannelError& error) {
      protocol_failure(error.what());
      return;
    }
    if (result.status == FrameReader::Status::would_block) {
      maybe_readable_ = false;
      return;
    }
    progressed = true;
    if (result.status == FrameReader::Status::closed) {
      if (!request_sent_)
        fail(ForwardFailure::daemon_closed,
             "GANTRY0317: the daemon process closed the connection before taking the request "
             "(it refused the handshake, or it is shutting down)");
      else if (!result_.response_started)
        fail(ForwardFailure::daemon_closed,
             "GANTRY0310: the daemon process closed the connection before sending response "
             "headers (did it crash or get killed? see the daemon's log lines)");
      else
        fail(ForwardFailure::daemon_closed,
             "GANTRY0311: the daemon process closed the connection in the middle of the "
             "response; the client connection is aborted");
      return;
    }
    handle(result.frame);
  }
}

void Forwarder::handle(const FrameReader::Frame& frame) {
  try {
    switch (frame.header.type) {
      case FrameType::read_more:
        if (!body_done_)
          credit_ = std::min(credit_ + protocol::decode_read_more(frame.payload), kMaxCredit);
        return;
      case FrameType::response_start:
        on_response_start(frame.payload);
        return;
      case FrameType::data:
        if (!result_.response_started) return protocol_failure("DATA before RESPONSE_START");
        try {
          // A generator's block arrives as DATA + FLUSH in one read: pass them together.
          if (reader_.skip_if_next(FrameType::flush)) apache_.write_flushed(frame.payload);
          else apache_.write(frame.payload);
        } catch (const ChannelError& error) {
          fail_client_gone("sending the response body", error);
        }
        return;
      case FrameType::file:
        on_file(frame.payload);
        return;
      case FrameType::flush:
        if (!result_.response_started) return;
        try {
          apache_.flush();
        } catch (const ChannelError& error) {
          fail_client_gone("flushing the response", error);
        }
        return;
      case FrameType::log: {
        const auto line = protocol::decode_log(frame.payload);
        try {
          apache_.log(line.level, line.message);
        } catch (...) {
          // A log line that cannot be written must not end the request.
        }
        return;
      }
      case FrameType::end: {
        const Outcome outcome = protocol::decode_end(frame.payload);
        if (outcome == Outcome::ok && !result_.response_started)
          return protocol_failure("END ok without a response");
        // Every FILE frame took its descriptor before END: one left over came with no FILE.
        if (reader_.pending_fds() > 0)
          return protocol_failure("a file descriptor passed without a FILE frame",
                                  ForwardFailure::unexpected_descriptor);
        result_.outcome = outcome;
        done_ = true;
        return;
      }
      case FrameType::abort: {
        const auto abort = protocol::decode_abort(frame.payload);
        fail(ForwardFailure::daemon_aborted,
             "GANTRY0315: the daemon process abandoned the request: " + std::string(abort.message));
        return;
      }
      default:
        return protocol_failure("unexpected " +
                                protocol::frame_name(static_cast<std::uint8_t>(frame.header.type)) +
                                " frame");
    }
  } catch (const ProtocolError& error) {
    protocol_error(error);
  }
}

void Forwarder::on_response_start(std::string_view payload) {
  if (result_.response_started) return protocol_failure("a second RESPONSE_START");
  protocol::ResponseStart response = protocol::decode_response_start(payload);
  const std::size_t limit = limits_.header_buffer_size;
  if (response.status.size() > limit) {
    return fail(ForwardFailure::header_too_large,
                "GANTRY0313: the application's status line is " +
                    std::to_string(response.status.size()) +
                    " bytes, more than header-buffer-size=" + std::to_string(limit) +
                    "; raise header-buffer-size on WSGIDaemonProcess or shorten it");
  }
  for (const auto& header : response.headers) {
    const std::size_t size = header.name.size() + 2 + header.value.size();  // "name: value"
    if (size > limit) {
      return fail(ForwardFailure::header_too_large,
                  "GANTRY0313: the application's response header '" +
                      header.name.substr(0, 200) + "' is " + std::to_string(size) +
                      " bytes, more than header-buffer-size=" + std::to_string(limit) +
                      "; raise header-buffer-size on WSGIDaemonProcess or send less");
    }
  }
  // The adapter in the daemon validated these, but the daemon runs application code that
  // could write to its socket directly: the Apache child re-checks what it will put on
  // the wire, so no CR/LF from a daemon can split the response.
  if (!http::parse_status_line(response.status))
    return protocol_failure("malformed status line '" + response.status.substr(0, 100) + "'");
  for (const auto& header : response.headers) {
    if (!http::is_token(header.name) || http::find_bad_field_value_byte(header.value) ||
        http::is_hop_by_hop(header.name))
      return protocol_failure("invalid or hop-by-hop response header '" +
                              header.name.substr(0, 100) + "'");
  }
  try {
    apache_.start_response(response.status, response.headers);
  } catch (const ChannelError& error) {
    return fail_client_gone("sending the response headers", error);
  }
  result_.response_started = true;
}

void Forwarder::on_file(std::string_view payload) {
  const protocol::FileRange range = protocol::decode_file(payload);
  ScopedFd file = reader_.take_fd();  // closed when this frame is done, sent or not
  if (!file) return protocol_failure("FILE frame without a file descriptor");
  if (!result_.response_started) return protocol_failure("FILE before RESPONSE_START");
  struct stat info;
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode))
    return protocol_failure("FILE frame with a descriptor that is not a regular file");
  try {
    if (!apache_.send_file(file.get(), range.offset, range.length))
      copy_file(file.get(), range.offset, range.length);
  } catch (const ChannelError& error) {
    fail_client_gone("sending a file", error);
  }
}

void Forwarder::copy_file(int fd, std::uint64_t offset, std::uint64_t length) {
  char* const buffer = file_buffer_.get(protocol::kMaxChunk);
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, file_buffer_.size()));
    const ssize_t n = ::pread(fd, buffer, want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return fail(ForwardFailure::daemon_aborted,
                  "GANTRY0319: a file the application returned ended " + std::to_string(length) +
                      " bytes early (" + (n < 0 ? std::strerror(errno) : "end of file") +
                      "; was it truncated while being served?); the client connection is aborted");
    }
    apache_.write(std::string_view(buffer, static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
}

ForwardResult Forwarder::run(const protocol::Secret& secret) {
  try {
    writer_.append([&](std::string& out) {
      protocol::append_hello(out, secret);
      protocol::append_request(out, apache_.environ(), apache_.traits());
    });
  } catch (const ProtocolError& error) {
    fail(ForwardFailure::protocol_error,
         std::string("GANTRY0318: the request cannot be sent to the daemon process: ") +
             error.what());
  }

  while (!done_) {
    bool progressed = false;
    if (!body_done_ && credit_ > 0 && writer_.empty() && !send_broken_) {
      produce_body();
      progressed = true;
      if (done_) break;
    }
    if (!writer_.empty() && !send_broken_) send_queued(progressed);
    receive_frames(progressed);
    if (done_ || progressed) continue;

    short events = POLLIN;
    if (!writer_.empty() && !send_broken_) events |= POLLOUT;
    pollfd entry{fd_, events, 0};
    const int ready = ::poll(&entry, 1, poll_timeout_ms_);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      protocol_failure(std::string("poll failed: ") + std::strerror(errno));
      break;
    }
    // Error and hang-up conditions are found out by the recv they make succeed.
    if ((entry.revents & (POLLIN | POLLHUP | POLLERR)) != 0) maybe_readable_ = true;
    if (ready == 0) {
      fail(ForwardFailure::timeout,
           result_.response_started
               ? "GANTRY0312: the daemon process sent nothing for " +
                     seconds_text(limits_.socket_timeout) +
                     " (socket-timeout) in the middle of the response; the client connection "
                     "is aborted"
               : "GANTRY0312: no response headers from the daemon process within " +
                     seconds_text(limits_.socket_timeout) +
                     " (socket-timeout); answering 504");
    }
  }
  result_.peak_buffer_bytes = reader_.peak_buffer_bytes() + writer_.peak_buffer_bytes() +
                              body_buffer_.size() + file_buffer_.size();
  return std::move(result_);
}

}  // namespace

int ForwardResult::http_status() const {
  if (response_started) return 0;
  switch (failure) {
    case ForwardFailure::none:
      if (outcome == Outcome::ok) return 0;
      if (outcome == Outcome::not_found) return 404;
      // server_error, or aborted before a response started (the daemon could not even
      // send its headers: over the frame limit...): nothing went out, so the client gets a
      // 500 and the access log says so, never an empty 200.
      return 500;
    case ForwardFailure::daemon_closed:
    case ForwardFailure::protocol_error:
    case ForwardFailure::unexpected_descriptor:
    case ForwardFailure::daemon_aborted:
      return 502;
    case ForwardFailure::timeout:
      return 504;
    case ForwardFailure::header_too_large:
      return 500;
    case ForwardFailure::client_gone:
      return 0;
  }
  return 500;
}

ForwardResult forward_request(int fd, const protocol::Secret& secret, RequestChannel& apache_side,
                              const ForwardLimits& limits) {
  Forwarder forwarder(fd, apache_side, limits);
  return forwarder.run(secret);
}

}  // namespace gantry
