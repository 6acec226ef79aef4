#pragma once
// The daemon end of the protocol: a RequestChannel over the socket an Apache child
// connected with. The WSGI adapter runs against it exactly as against the embedded
// channel. The forwarder (daemon_forwarder.hpp) is the other end.
//
//   const ScopedFd fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
//   try {
//     SocketChannel channel(fd.get(), secret, {.socket_timeout = 60s});   // HELLO + REQUEST
//     Outcome outcome = python->run_request(target, channel);
//     channel.finish(outcome);                                      // END
//   } catch (const protocol::ProtocolError& e) { log: a peer refused (bad secret...) }
//     catch (const ChannelError& e) { log: the Apache child went away or timed out }
//   // fd closes at the end of its scope
//
// The channel does not own the descriptor. Threading: one request thread uses it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gantry/scoped_fd.hpp"
#include "gantry/channel.hpp"
#include "gantry/frame_io.hpp"
#include "gantry/protocol.hpp"

namespace gantry {

struct SocketChannelOptions {
  // Longest wait for the Apache child on any one read or write (socket-timeout).
  std::chrono::milliseconds socket_timeout = std::chrono::seconds(300);
  // Body bytes the Apache child may send ahead of the application's read() calls.
  std::uint32_t body_window = protocol::kDefaultBodyWindow;
  // Where log() lines go when the Apache child can no longer take them. May be null.
  Logger* fallback_logger = nullptr;
  // response-buffer-size: after this many bytes of write() (a list response's items, which
  // ask for no flush) the channel flushes by itself, so the Apache child passes at most this
  // much on without a flush. write_flushed() blocks are flushed anyway. 0 = never.
  std::size_t response_buffer_size = 65536;
};

class SocketChannel final : public RequestChannel {
 public:
  // Reads and checks HELLO, then reads REQUEST (or AUTH_QUERY: see auth_query()). Nothing is allocated (only a fixed stack
  // buffer is used) before the secret has been checked. Throws protocol::ProtocolError for a
  // peer that is refused or breaks the protocol, ChannelError for a hang-up or timeout.
  SocketChannel(int fd, const protocol::Secret& secret, const SocketChannelOptions& options);

  std::span<const EnvEntry> environ() const override { return environ_; }
  // Adds a variable only the daemon knows (mod_wsgi.daemon_start) to the REQUEST's environ,
  // so the daemon need not copy the whole environ into a wrapper channel to extend it.
  void add_environ(std::string key, std::string value) {
    environ_.push_back({std::move(key), std::move(value)});
  }
  ServerTraits traits() const override { return traits_; }
  std::size_t read(char* buffer, std::size_t size) override;
  void start_response(std::string_view status, const std::vector<Header>& headers) override;
  void write(std::string_view data) override;
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override;
  bool buffers_headers() const override;
  bool buffers_file() const override { return !broken_; }
  bool buffers_write(std::size_t bytes) const override;
  void flush() override;
  void write_flushed(std::string_view data) override;
  void log(Level level, std::string_view message) override;

  // Sends END with the outcome (and anything still batched). Never throws: false if the
  // Apache child could not be told (it hung up, or an earlier send failed).
  bool finish(Outcome outcome);

  // Set when the peer asked for an auth check instead of a request: the environ() is the
  // check's, there is no body, and the answer goes back with finish_auth (LOG before it
  // is fine); the request methods must not be used.
  const std::optional<AuthQuery>& auth_query() const { return auth_query_; }
  // Sends AUTH_REPLY, the last frame of an auth check. Never throws: false if the Apache
  // child could not be told.
  bool finish_auth(const AuthReply& reply);

  bool response_started() const { return started_; }
  // Most bytes this channel's own buffers held at once (tests assert it stays bounded).
  std::size_t peak_buffer_bytes() const;

 private:
  void send_now();                     // drains the writer or throws ChannelError
  [[noreturn]] void fail(const ChannelError& error);
  void check_usable() const;
  void grant(std::uint32_t credit);
  void receive_body_frame();
  template <class Encode>
  bool send_last(Encode&& encode);

  int fd_;
  SocketChannelOptions options_;
  protocol::FrameReader reader_;
  protocol::FrameWriter writer_;
  ScopedFd queued_file_;  // the duplicate a queued FILE frame carries, until it is sent
  std::vector<EnvEntry> environ_;
  ServerTraits traits_;
  std::optional<AuthQuery> auth_query_;

  // Request body state.
  std::string_view pending_body_;  // unread part of the current BODY frame (in reader_)
  std::uint64_t in_flight_ = 0;    // granted but not yet received
  bool window_opened_ = false;
  bool body_done_ = false;
  bool body_failed_ = false;
  ChannelError::Kind body_error_kind_ = ChannelError::Kind::internal;
  std::string body_error_;

  bool started_ = false;
  bool broken_ = false;  // a send failed: every later call fails the same way
  std::size_t unflushed_ = 0;  // bytes written since the last FLUSH (response-buffer-size)
  void append_data(std::string_view data);  // write() without the response-buffer-size check
  ChannelError::Kind broken_kind_ = ChannelError::Kind::internal;
  std::string broken_reason_;
};

}  // namespace gantry
