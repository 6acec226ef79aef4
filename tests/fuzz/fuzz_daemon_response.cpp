// fuzz_daemon_response: the Apache child's reader of what a daemon process sends back
// (forward_request: RESPONSE_START, DATA, FILE with its descriptor, READ_MORE credit, LOG,
// FLUSH, END, ABORT). The daemon runs application code, so it is untrusted: nothing it
// sends may crash the child, leak a descriptor, split the client's response or put bytes
// on the wire that the protocol did not deliver.
//
// Rig: forward_request runs over a socketpair, exactly as in the module, against a
// recording RequestChannel (no Apache types); a thread plays the daemon and writes the
// fuzz input to the other end, frame by frame, attaching a descriptor (SCM_RIGHTS) to each
// FILE frame as a real daemon does, then hangs up.
//
// Input: byte 0 = flags, the rest = the daemon's byte stream.
//   bit0: the channel can send_file (else the forwarder copies the file itself)
//   bit1: a small header-buffer-size (64) instead of the default
//   bit2: also attach a descriptor to every DATA frame (a daemon passing descriptors where
//         the protocol expects none)
//   bit3: attach a pipe, not a regular file, to FILE frames
//   bits4-7: request body size in 256-byte steps (the credit path)
// Properties:
//   1. no descriptor outlives the call (the process's descriptor count is unchanged);
//   2. start_response is called at most once, before any body byte, and only with a status
//      line and headers that cannot split the response (checked against an independent
//      definition of the allowed bytes) and that fit header-buffer-size;
//   3. the body bytes the client gets are a prefix of what a reference reading of the
//      stream delivers (DATA payloads and FILE ranges after RESPONSE_START, up to END),
//      and all of it when the forwarder reports success;
//   4. the request body is never read again after the channel said it ended.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/daemon_forwarder.hpp"
#include "gantry/protocol.hpp"

using namespace gantry;
using namespace gantry::protocol;

namespace {

constexpr std::size_t kFileSize = 8192;

// The regular file every FILE frame passes: content byte i = i * 7 % 251.
int shared_file() {
  static const int fd = [] {
    const int f = ::memfd_create("fuzz-file", MFD_CLOEXEC);
    FUZZ_CHECK(f >= 0, "memfd_create");
    std::string content(kFileSize, '\0');
    for (std::size_t i = 0; i < kFileSize; ++i) content[i] = static_cast<char>(i * 7 % 251);
    FUZZ_CHECK(::write(f, content.data(), content.size()) == static_cast<ssize_t>(content.size()), "write");
    return f;
  }();
  return fd;
}

std::string file_content(std::uint64_t offset, std::uint64_t length) {
  std::string out;
  for (std::uint64_t i = offset; i < offset + length && i < kFileSize; ++i)
    out.push_back(static_cast<char>(i * 7 % 251));
  return out;
}

std::size_t count_open_fds() {
  std::size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  FUZZ_CHECK(dir != nullptr, "opendir /proc/self/fd");
  while (const dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n;
}

// Bytes an HTTP header block may carry, defined independently of http_rules.
bool safe_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
bool safe_name_byte(unsigned char c) {
  return c > 0x20 && c < 0x7f && std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) == std::string_view::npos;
}

class RecordingChannel final : public RequestChannel {
 public:
  RecordingChannel(std::size_t body_size, bool can_send_file, std::size_t header_limit)
      : body_left_(body_size), can_send_file_(can_send_file), header_limit_(header_limit) {
    environ_ = {{"REQUEST_METHOD", "POST"}, {"SCRIPT_NAME", ""}, {"PATH_INFO", "/fuzz"}};
  }

  std::span<const EnvEntry> environ() const override { return environ_; }
  ServerTraits traits() const override { return {}; }

  std::size_t read(char* buffer, std::size_t size) override {
    FUZZ_CHECK(size > 0, "the forwarder never asks for 0 body bytes");
    FUZZ_CHECK(!ended_, "the body is not read again after it ended");
    const std::size_t n = std::min(size, body_left_);
    std::memset(buffer, 'b', n);
    body_left_ -= n;
    ended_ = n == 0;
    return n;
  }

  void start_response(std::string_view status, const std::vector<Header>& headers) override {
    FUZZ_CHECK(!started_, "start_response is called at most once");
    FUZZ_CHECK(body_.empty(), "no body byte precedes the headers");
    FUZZ_CHECK(status.size() >= 4 && status.size() <= header_limit_, "the status line has a code and fits");
    for (unsigned char c : status) FUZZ_CHECK(safe_field_byte(c), "the status line carries no CR, LF, NUL or CTL");
    for (const Header& header : headers) {
      FUZZ_CHECK(!header.name.empty(), "no empty header name");
      for (unsigned char c : header.name) FUZZ_CHECK(safe_name_byte(c), "header names are tokens");
      for (unsigned char c : header.value) FUZZ_CHECK(safe_field_byte(c), "header values carry no CR, LF, NUL or CTL");
      FUZZ_CHECK(header.name.size() + 2 + header.value.size() <= header_limit_, "each header fits header-buffer-size");
    }
    started_ = true;
  }

  void write(std::string_view data) override {
    FUZZ_CHECK(started_, "no body before start_response");
    body_.append(data);
  }

  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override {
    FUZZ_CHECK(started_, "no file before start_response");
    if (!can_send_file_) return false;
    if (offset > kFileSize || length > kFileSize - offset)
      throw ChannelError(ChannelError::Kind::internal, "range past the end of the file");
    std::string part(length, '\0');
    FUZZ_CHECK(::pread(fd, part.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length),
               "the forwarder passes the descriptor it received, readable");
    body_.append(part);
    return true;
  }

  void flush() override {}
  void log(Level, std::string_view) override {}

  bool started() const { return started_; }
  const std::string& body() const { return body_; }

 private:
  std::vector<EnvEntry> environ_;
  std::size_t body_left_;
  bool can_send_file_;
  std::size_t header_limit_;
  bool started_ = false;
  bool ended_ = false;
  std::string body_;
};

struct Piece {
  std::string_view bytes;
  int attach = -1;  // descriptor sent with these bytes
};

// Cuts the stream at frame boundaries (as far as its headers can be believed) so that the
// descriptors go with the frames they belong to; also computes the reference body.
std::vector<Piece> plan(std::string_view stream, std::uint8_t flags, int pipe_end, std::string& reference) {
  std::vector<Piece> pieces;
  bool started = false, ended = false;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::string_view rest = stream.substr(at);
    FrameHeader header{};
    bool ok = rest.size() >= kHeaderSize;
    if (ok) {
      try {
        header = parse_header(rest.data());
      } catch (const ProtocolError&) {
        ok = false;
      }
    }
    if (!ok) {
      pieces.push_back({rest});
      break;
    }
    const std::size_t total = std::min(rest.size(), kHeaderSize + header.length);
    const std::string_view payload = rest.substr(kHeaderSize, total - kHeaderSize);
    Piece piece{rest.substr(0, total)};
    if (header.type == FrameType::file) piece.attach = (flags & 8) ? pipe_end : shared_file();
    if (header.type == FrameType::data && (flags & 4)) piece.attach = shared_file();
    pieces.push_back(piece);
    at += total;
    if (ended || payload.size() != header.length) continue;
    try {
      switch (header.type) {
        case FrameType::response_start:
          decode_response_start(payload);
          started = true;
          break;
        case FrameType::data:
          if (started) reference.append(payload);
          break;
        case FrameType::file:
          if (started) {
            const FileRange range = decode_file(payload);
            reference += file_content(range.offset, range.length);
          }
          break;
        case FrameType::end:
        case FrameType::abort:
          ended = true;
          break;
        default:
          break;
      }
    } catch (const ProtocolError&) {
      ended = true;  // the forwarder stops here too; nothing after counts
    }
  }
  return pieces;
}

void send_piece(int fd, const Piece& piece) {
  std::size_t sent = 0;
  bool with_fd = piece.attach >= 0;
  while (sent < piece.bytes.size()) {
    iovec iov{const_cast<char*>(piece.bytes.data() + sent), piece.bytes.size() - sent};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (with_fd) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &piece.attach, sizeof(int));
    }
    const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n <= 0) return;  // the forwarder hung up on us: fine
    sent += static_cast<std::size_t>(n);
    with_fd = false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  shared_file();
  const std::uint8_t flags = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t fds_before = count_open_fds();

  int pipe_fds[2];
  FUZZ_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, "pipe");
  std::string reference;
  const std::vector<Piece> pieces = plan(stream, flags, pipe_fds[0], reference);

  int pair[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0, "socketpair");
  std::thread daemon([&] {
    for (const Piece& piece : pieces) send_piece(pair[1], piece);
    ::shutdown(pair[1], SHUT_WR);
  });

  const std::size_t body_size = static_cast<std::size_t>(flags >> 4) * 256;
  ForwardLimits limits;
  limits.socket_timeout = std::chrono::seconds(10);
  limits.header_buffer_size = (flags & 2) ? 64 : 32768;
  RecordingChannel channel(body_size, (flags & 1) != 0, limits.header_buffer_size);
  Secret secret{};
  const ForwardResult result = forward_request(pair[0], secret, channel, limits);
  daemon.join();
  ::close(pair[0]);
  ::close(pair[1]);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);

  FUZZ_CHECK(count_open_fds() == fds_before, "no descriptor the daemon passed outlives the request");
  FUZZ_CHECK(result.response_started == channel.started(), "response_started says whether headers went out");
  FUZZ_CHECK(reference.compare(0, channel.body().size(), channel.body()) == 0,
             "the client gets only bytes the daemon's frames delivered, in order");
  if (result.failure == ForwardFailure::none && result.outcome == Outcome::ok) {
    FUZZ_CHECK(channel.started(), "a successful response has headers");
    FUZZ_CHECK(channel.body() == reference, "a successful response delivers every DATA and FILE byte");
  }
  if (result.failure != ForwardFailure::none)
    FUZZ_CHECK(result.detail.rfind("GANTRY", 0) == 0, "every failure comes with a log line that has an id");
  const int status = result.http_status();
  FUZZ_CHECK(status == 0 || status == 404 || status == 500 || status == 502 || status == 504,
             "the answer for an unstarted response is one of 404/500/502/504");
  FUZZ_CHECK(!result.response_started || status == 0, "no error status once the response started");
  return 0;
}
