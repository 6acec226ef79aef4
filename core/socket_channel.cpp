// SocketChannel: the daemon end of the Apache child <-> daemon protocol.
#include "gantry/socket_channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <span>

namespace gantry {

using protocol::FrameType;
using protocol::kHeaderSize;
using protocol::ProtocolError;

namespace {

// Small writes are copied into the batch (and leave with the next flush); larger ones are
// framed in place and sent from the caller's buffer at once.
constexpr std::size_t kCopyBelow = 16 * 1024;
constexpr std::size_t kBatchLimit = 64 * 1024;
// Chunks framed per sendmsg round of a large write; bounds the writer's bookkeeping
// (a few KiB) however large the write is.
constexpr int kFramesPerSend = 64;
// The first recv's buffer: HELLO plus a typical REQUEST (1-2 KiB of environ). A larger
// REQUEST simply finishes arriving through the reader.
constexpr std::size_t kHelloRecv = 4096;

// Receives the HELLO frame into a fixed stack buffer, rejecting the peer as soon as the
// bytes received so far are wrong (so garbage is refused without waiting for 52 bytes).
// The Apache child sends HELLO and REQUEST together, so the same recv usually brings the
// whole REQUEST too (one recv per request instead of two); the bytes after HELLO are left
// in `buffer` and their count returned. Nothing is allocated before the secret is checked.
std::size_t receive_hello(int fd, const protocol::Secret& secret, std::chrono::milliseconds timeout,
                          std::span<char, kHelloRecv> buffer) {
  constexpr std::size_t kHello = kHeaderSize + protocol::kHelloPayload;
  std::size_t got = 0;
  while (got < kHello) {
    const ssize_t n = ::recv(fd, buffer.data() + got, buffer.size() - got, MSG_DONTWAIT);
    if (n > 0) {
      const bool had_header = got >= kHeaderSize;
      const bool had_magic = got >= kHeaderSize + protocol::kMagic.size();
      got += static_cast<std::size_t>(n);
      if (!had_magic && got >= kHeaderSize + protocol::kMagic.size() &&
          std::memcmp(buffer.data() + kHeaderSize, protocol::kMagic.data(),
                      protocol::kMagic.size()) != 0) {
        throw ProtocolError(ProtocolError::Kind::bad_magic,
                            "the peer did not start with a Gantry HELLO (wrong magic bytes)");
      }
      if (!had_header && got >= kHeaderSize) {
        const auto header = protocol::parse_header(buffer.data());
        if (header.type != FrameType::hello)
          throw ProtocolError(ProtocolError::Kind::unexpected_frame,
                              "the first frame must be HELLO, not " +
                                  protocol::frame_name(static_cast<std::uint8_t>(header.type)));
      }
      continue;
    }
    if (n == 0 || errno == ECONNRESET) {
      if (got == 0)
        throw ChannelError(ChannelError::Kind::client_gone,
                           "the peer connected and closed without sending HELLO");
      throw ProtocolError(ProtocolError::Kind::truncated,
                          "the peer closed the connection " + std::to_string(got) +
                              " bytes into its HELLO");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      throw ChannelError(ChannelError::Kind::internal,
                         std::string("recv of HELLO failed: ") + std::strerror(errno));
    if (!protocol::wait_for(fd, POLLIN, timeout))
      throw ChannelError(ChannelError::Kind::timeout,
                         "no complete HELLO within " + std::to_string(timeout.count()) + " ms");
  }
  protocol::check_hello(buffer.first<kHello>(), secret);
  return got - kHello;
}

}  // namespace

SocketChannel::SocketChannel(int fd, const protocol::Secret& secret,
                             const SocketChannelOptions& options)
    : fd_(fd), options_(options), reader_(fd), writer_(fd) {
  std::array<char, kHelloRecv> first;  // uninitialised on purpose: recv fills it
  const std::size_t after_hello = receive_hello(fd, secret, options_.socket_timeout, first);
  reader_.preload(std::string_view(first.data() + kHeaderSize + protocol::kHelloPayload, after_hello));
  const auto frame = reader_.read(options_.socket_timeout);
  if (frame.header.type == FrameType::auth_query) {
    auto message = protocol::decode_auth_query(frame.payload);
    environ_ = std::move(message.environ);
    auth_query_ = std::move(message.query);
    return;
  }
  if (frame.header.type != FrameType::request)
    throw ProtocolError(ProtocolError::Kind::unexpected_frame,
                        "expected REQUEST or AUTH_QUERY after HELLO, got " +
                            protocol::frame_name(static_cast<std::uint8_t>(frame.header.type)));
  auto message = protocol::decode_request(frame.payload);
  environ_ = std::move(message.environ);
  traits_ = message.traits;
}

std::size_t SocketChannel::peak_buffer_bytes() const {
  return reader_.peak_buffer_bytes() + writer_.peak_buffer_bytes();
}

void SocketChannel::check_usable() const {
  if (broken_) throw ChannelError(broken_kind_, broken_reason_);
}

void SocketChannel::fail(const ChannelError& error) {
  broken_ = true;
  broken_kind_ = error.kind();
  broken_reason_ = error.what();
  writer_.discard();
  throw error;
}

void SocketChannel::send_now() {
  try {
    writer_.send_all(options_.socket_timeout);
    queued_file_.reset();  // the kernel has its own reference in the message now
  } catch (const ChannelError& error) {
    queued_file_.reset();
    fail(error);
  }
}

void SocketChannel::grant(std::uint32_t credit) {
  check_usable();
  in_flight_ += credit;
  writer_.append([&](std::string& out) { protocol::append_read_more(out, credit); });
  send_now();
}

void SocketChannel::receive_body_frame() {
  protocol::FrameReader::Frame frame;
  try {
    frame = reader_.read(options_.socket_timeout);
  } catch (const ProtocolError& error) {
    body_failed_ = true;
    body_error_kind_ = ChannelError::Kind::internal;
    body_error_ = std::string("request body: ") + error.what();
    throw ChannelError(body_error_kind_, body_error_);
  } catch (const ChannelError& error) {
    body_failed_ = true;
    body_error_kind_ = error.kind();
    body_error_ = std::string("request body: ") + error.what();
    throw ChannelError(body_error_kind_, body_error_);
  }
  switch (frame.header.type) {
    case FrameType::body:
      if (frame.payload.size() > in_flight_) {
        body_failed_ = true;
        body_error_kind_ = ChannelError::Kind::internal;
        body_error_ = "request body: the Apache child sent more than it was granted";
        throw ChannelError(body_error_kind_, body_error_);
      }
      in_flight_ -= frame.payload.size();
      pending_body_ = frame.payload;
      // Top the window up while the application works through this frame, so the next
      // chunk is already on its way when it asks again.
      if (in_flight_ <= options_.body_window / 2)
        grant(static_cast<std::uint32_t>(options_.body_window - in_flight_));
      return;
    case FrameType::body_end:
      body_done_ = true;
      return;
    case FrameType::abort: {
      const auto abort = protocol::decode_abort(frame.payload);
      body_failed_ = true;
      body_error_kind_ = abort.kind;
      body_error_ = std::string(abort.message);
      throw ChannelError(body_error_kind_, body_error_);
    }
    default:
      body_failed_ = true;
      body_error_kind_ = ChannelError::Kind::internal;
      body_error_ = "request body: unexpected " +
                    protocol::frame_name(static_cast<std::uint8_t>(frame.header.type)) +
                    " frame from the Apache child";
      throw ChannelError(body_error_kind_, body_error_);
  }
}

std::size_t SocketChannel::read(char* buffer, std::size_t size) {
  if (size == 0) return 0;
  while (pending_body_.empty()) {
    if (body_failed_) throw ChannelError(body_error_kind_, body_error_);
    if (body_done_) return 0;
    if (!window_opened_) {
      // The body is requested only once the application reads it (see protocol.hpp).
      window_opened_ = true;
      grant(options_.body_window);
    }
    receive_body_frame();
  }
  const std::size_t n = std::min(size, pending_body_.size());
  std::memcpy(buffer, pending_body_.data(), n);
  pending_body_.remove_prefix(n);
  return n;
}

void SocketChannel::start_response(std::string_view status, const std::vector<Header>& headers) {
  check_usable();
  if (started_) throw ChannelError(ChannelError::Kind::internal, "response already started");
  try {
    writer_.append([&](std::string& out) { protocol::append_response_start(out, status, headers); });
  } catch (const ProtocolError& error) {
    throw ChannelError(ChannelError::Kind::internal,
                       std::string("response headers cannot be sent: ") + error.what());
  }
  started_ = true;  // leaves with the first flush or large write, together with the body
}

void SocketChannel::write(std::string_view data) {
  check_usable();
  if (!started_)
    throw ChannelError(ChannelError::Kind::internal, "write() before start_response()");
  if (data.empty()) return;
  append_data(data);
  unflushed_ += data.size();
  if (options_.response_buffer_size && unflushed_ >= options_.response_buffer_size) flush();
}

void SocketChannel::append_data(std::string_view data) {
  if (data.size() <= kCopyBelow && writer_.queued_bytes() + kHeaderSize + data.size() <= kBatchLimit) {
    writer_.append([&](std::string& out) {
      const std::size_t at = out.size();
      out.resize(at + kHeaderSize);
      protocol::put_header(out.data() + at, FrameType::data, static_cast<std::uint32_t>(data.size()));
      out.append(data);
    });
    return;
  }
  while (!data.empty()) {
    for (int i = 0; i < kFramesPerSend && !data.empty(); ++i) {
      const std::string_view chunk = data.substr(0, protocol::kMaxChunk);
      writer_.append_borrowed(FrameType::data, chunk);
      data.remove_prefix(chunk.size());
    }
    send_now();  // before returning: the borrowed bytes belong to the caller
  }
}

bool SocketChannel::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  check_usable();
  if (!started_)
    throw ChannelError(ChannelError::Kind::internal, "send_file() before start_response()");
  struct stat info;
  // Only regular files: the Apache child will sendfile() it, which needs an offset.
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return false;
  if (length == 0) return true;
  if (queued_file_.get() >= 0) send_now();  // one descriptor per message
  // Queued, to leave with END (or whatever is sent next) in one sendmsg: a duplicate,
  // because the application may close its file as soon as this returns.
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;  // the adapter reads and writes the file instead
  queued_file_.reset(copy);
  writer_.append([&](std::string& out) { protocol::append_file(out, offset, length); });
  writer_.attach_fd(copy);
  return true;
}

// start_response() always appends (RESPONSE_START leaves with the first data); write()
// appends while the batch has room, as its first branch does.
bool SocketChannel::buffers_headers() const { return !broken_; }

bool SocketChannel::buffers_write(std::size_t bytes) const {
  // A write that reaches response-buffer-size flushes (sends): not merely buffered.
  const bool flushes = options_.response_buffer_size && unflushed_ + bytes >= options_.response_buffer_size;
  return !broken_ && !flushes && bytes <= kCopyBelow &&
         writer_.queued_bytes() + kHeaderSize + bytes <= kBatchLimit;
}

void SocketChannel::flush() {
  check_usable();
  if (!started_) return;  // nothing to push yet; RESPONSE_START goes with the first data
  writer_.append([](std::string& out) { protocol::append_empty(out, FrameType::flush); });
  unflushed_ = 0;
  send_now();
}

// A generator's block: its DATA frames and the FLUSH in one sendmsg, not two.
void SocketChannel::write_flushed(std::string_view data) {
  check_usable();
  if (!started_)
    throw ChannelError(ChannelError::Kind::internal, "write() before start_response()");
  while (data.size() > protocol::kMaxChunk * kFramesPerSend) {
    append_data(data.substr(0, protocol::kMaxChunk * kFramesPerSend));
    data.remove_prefix(protocol::kMaxChunk * kFramesPerSend);
  }
  if (data.size() <= kCopyBelow) {
    if (!data.empty()) append_data(data);  // copied into the batch: sent with the FLUSH below
  } else {
    while (!data.empty()) {
      const std::string_view chunk = data.substr(0, protocol::kMaxChunk);
      writer_.append_borrowed(FrameType::data, chunk);
      data.remove_prefix(chunk.size());
    }
  }
  writer_.append([](std::string& out) { protocol::append_empty(out, FrameType::flush); });
  unflushed_ = 0;
  send_now();  // before returning: the borrowed bytes belong to the caller
}

void SocketChannel::log(Level level, std::string_view message) {
  if (!broken_) {
    try {
      writer_.append([&](std::string& out) { protocol::append_log(out, level, message); });
      send_now();
      return;
    } catch (const ChannelError&) {
      // The Apache child is gone; the line still deserves a place to land.
    }
  }
  if (options_.fallback_logger != nullptr) options_.fallback_logger->log(level, message);
}

template <class Encode>
bool SocketChannel::send_last(Encode&& encode) {
  if (broken_) return false;
  try {
    writer_.append(std::forward<Encode>(encode));
    writer_.send_all(options_.socket_timeout);
    queued_file_.reset();
    return true;
  } catch (const ChannelError& error) {
    queued_file_.reset();
    broken_ = true;
    broken_kind_ = error.kind();
    broken_reason_ = error.what();
    writer_.discard();
    return false;
  }
}

bool SocketChannel::finish(Outcome outcome) {
  return send_last([&](std::string& out) { protocol::append_end(out, outcome); });
}

bool SocketChannel::finish_auth(const AuthReply& reply) {
  return send_last([&](std::string& out) { protocol::append_auth_reply(out, reply); });
}

}  // namespace gantry
