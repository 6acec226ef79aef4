// Both ends of the daemon protocol over a real socketpair: forward_request (Apache side,
// this thread) against SocketChannel (daemon side, a second thread).
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "gantry/daemon_forwarder.hpp"
#include "gantry/frame_io.hpp"
#include "gantry/socket_channel.hpp"

namespace p = gantry::protocol;
using gantry::ChannelError;
using gantry::ForwardFailure;
using gantry::ForwardResult;
using gantry::Outcome;
using gantry::SocketChannel;

namespace {

using namespace std::chrono_literals;

const p::Secret kSecret = [] {
  p::Secret s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(i * 31 + 1);
  return s;
}();

// A deterministic byte stream, so 64 MiB can be produced and checked without storing it.
struct Stream {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  void fill(char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      out[i] = static_cast<char>(state);
    }
  }
};

// FNV-1a over everything fed to it.
struct Checksum {
  std::uint64_t value = 0xcbf29ce484222325ull;
  std::uint64_t bytes = 0;
  void add(std::string_view data) {
    for (unsigned char c : data) value = (value ^ c) * 0x100000001b3ull;
    bytes += data.size();
  }
};

// The Apache side as the forwarder sees it: environ, a body, and a recorder.
class FakeApache : public gantry::RequestChannel {
 public:
  std::vector<gantry::EnvEntry> env = {{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/"}};
  gantry::ServerTraits server_traits{true, true, false};

  std::string body;                    // served by read() unless generated_body > 0
  std::uint64_t generated_body = 0;    // bytes of Stream to serve instead
  std::optional<ChannelError> body_error;  // thrown by read() once the body is served
  Stream body_stream;
  Checksum body_sent;

  bool keep_response = true;
  std::uint64_t fail_writes_after = UINT64_MAX;  // client "goes away" after this many bytes
  bool send_file_works = true;

  // Recorded.
  std::vector<std::string> events;
  std::string status;
  std::vector<gantry::Header> headers;
  std::string response;
  Checksum response_sum;
  std::vector<std::pair<gantry::Level, std::string>> logs;
  std::string file_seen;  // what send_file could read through the received descriptor

  std::span<const gantry::EnvEntry> environ() const override { return env; }
  gantry::ServerTraits traits() const override { return server_traits; }

  std::size_t read(char* buffer, std::size_t size) override {
    std::size_t n = 0;
    if (generated_body > 0) {
      n = static_cast<std::size_t>(std::min<std::uint64_t>(size, generated_body));
      body_stream.fill(buffer, n);
      generated_body -= n;
    } else {
      n = std::min(size, body.size() - body_offset_);
      std::memcpy(buffer, body.data() + body_offset_, n);
      body_offset_ += n;
    }
    if (n == 0 && body_error) throw *body_error;
    body_sent.add(std::string_view(buffer, n));
    return n;
  }
  void start_response(std::string_view s, const std::vector<gantry::Header>& h) override {
    events.push_back("start");
    status = s;
    headers = h;
  }
  void write(std::string_view data) override {
    if (response_sum.bytes + data.size() > fail_writes_after)
      throw ChannelError(ChannelError::Kind::client_gone, "client reset the connection");
    if (events.empty() || events.back() != "write") events.push_back("write");
    response_sum.add(data);
    if (keep_response) response.append(data);
  }
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override {
    events.push_back("file");
    if (!send_file_works) return false;
    file_seen.resize(length);
    const ssize_t n = ::pread(fd, file_seen.data(), length, static_cast<off_t>(offset));
    file_seen.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return true;
  }
  void flush() override { events.push_back("flush"); }
  void log(gantry::Level level, std::string_view message) override {
    logs.emplace_back(level, std::string(message));
  }

 private:
  std::size_t body_offset_ = 0;
};

// What happened on the daemon thread (checked on the main thread after join).
struct DaemonReport {
  bool constructed = false;
  std::optional<p::ProtocolError::Kind> protocol_error;
  std::optional<ChannelError::Kind> channel_error;
  std::string error_text;
  std::size_t peak_buffer = 0;
  bool finished = false;
};

using DaemonApp = std::function<void(SocketChannel&, DaemonReport&)>;

// Runs `app` on a daemon thread over one end of a socketpair and forward_request on the
// other; the daemon thread closes its end when the app returns, like a daemon would.
ForwardResult run_link(FakeApache& apache, DaemonApp app, DaemonReport& report,
                       gantry::ForwardLimits limits = {}, p::Secret daemon_secret = kSecret) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  std::thread daemon([&, fd = fds[1]] {
    try {
      gantry::SocketChannelOptions options;
      options.socket_timeout = 5s;
      SocketChannel channel(fd, daemon_secret, options);
      report.constructed = true;
      try {
        app(channel, report);
      } catch (const ChannelError& e) {
        report.channel_error = e.kind();
        report.error_text = e.what();
      }
      report.peak_buffer = channel.peak_buffer_bytes();
    } catch (const p::ProtocolError& e) {
      report.protocol_error = e.kind();
      report.error_text = e.what();
    } catch (const ChannelError& e) {
      report.channel_error = e.kind();
      report.error_text = e.what();
    }
    ::close(fd);
  });
  ForwardResult result = gantry::forward_request(fds[0], kSecret, apache, limits);
  daemon.join();
  ::close(fds[0]);
  return result;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_link)

BOOST_AUTO_TEST_CASE(environ_and_traits_arrive_binary_safe) {
  FakeApache apache;
  apache.env = {{"REQUEST_METHOD", "GET"},
                {"HTTP_X_BIN", std::string("\0\xff\r\n:=", 6)},
                {"EMPTY", ""},
                {"BIG", std::string(200000, 'b')}};
  apache.server_traits = {true, false, true};
  std::vector<gantry::EnvEntry> seen;
  gantry::ServerTraits seen_traits;
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    seen.assign(ch.environ().begin(), ch.environ().end());
    seen_traits = ch.traits();
    ch.start_response("200 OK", {{"Content-Type", "text/plain"}});
    ch.write("hello");
    ch.flush();
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST(report.error_text == "");
  BOOST_TEST(report.finished);
  BOOST_REQUIRE_EQUAL(seen.size(), apache.env.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    BOOST_TEST(seen[i].key == apache.env[i].key);
    BOOST_TEST(seen[i].value == apache.env[i].value);
  }
  BOOST_TEST(seen_traits.multithread);
  BOOST_TEST(!seen_traits.multiprocess);
  BOOST_TEST(seen_traits.run_once);
  BOOST_TEST((result.failure == ForwardFailure::none));
  BOOST_TEST((result.outcome == Outcome::ok));
  BOOST_TEST(result.response_started);
  BOOST_TEST(result.http_status() == 0);
  BOOST_TEST(apache.status == "200 OK");
  BOOST_REQUIRE_EQUAL(apache.headers.size(), 1u);
  BOOST_TEST(apache.headers[0].name == "Content-Type");
  BOOST_TEST(apache.response == "hello");
  BOOST_TEST((apache.events == std::vector<std::string>{"start", "write", "flush"}));
}

BOOST_AUTO_TEST_CASE(sixty_four_mib_each_way_in_bounded_memory) {
  constexpr std::uint64_t kSize = 64ull << 20;
  FakeApache apache;
  apache.generated_body = kSize;
  apache.keep_response = false;
  Checksum daemon_received, daemon_sent;
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    std::vector<char> buffer(64 * 1024);
    while (std::size_t n = ch.read(buffer.data(), buffer.size()))
      daemon_received.add(std::string_view(buffer.data(), n));
    ch.start_response("200 OK", {});
    // Writes of assorted sizes: tiny (batched), medium, and 1 MiB (framed in place).
    Stream stream;
    std::vector<char> out(1 << 20);
    std::uint64_t left = kSize;
    std::size_t sizes[] = {1, 100, 5000, 70000, 1 << 20};
    for (int i = 0; left > 0; ++i) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(sizes[i % 5], left));
      stream.fill(out.data(), n);
      ch.write(std::string_view(out.data(), n));
      daemon_sent.add(std::string_view(out.data(), n));
      left -= n;
      if (i % 7 == 0) ch.flush();
    }
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST(report.error_text == "");
  BOOST_TEST(report.finished);
  BOOST_TEST((result.failure == ForwardFailure::none));
  BOOST_TEST(daemon_received.bytes == kSize);
  BOOST_TEST(daemon_received.value == apache.body_sent.value);
  BOOST_TEST(apache.response_sum.bytes == kSize);
  BOOST_TEST(apache.response_sum.value == daemon_sent.value);
  // Bounded: a read buffer of one chunk frame plus small bookkeeping on each side,
  // whatever the body size (the 1 MiB writes are sent from the caller's buffer).
  BOOST_TEST_MESSAGE("forwarder peak " << result.peak_buffer_bytes << " bytes, daemon peak "
                                       << report.peak_buffer << " bytes");
  BOOST_TEST(result.peak_buffer_bytes <= 256u * 1024);
  BOOST_TEST(report.peak_buffer <= 256u * 1024);
}

BOOST_AUTO_TEST_CASE(one_huge_write_goes_out_uncopied) {
  FakeApache apache;
  apache.keep_response = false;
  std::string big(16 << 20, '\0');
  Stream().fill(big.data(), big.size());
  Checksum expected;
  expected.add(big);
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {{"Content-Length", std::to_string(big.size())}});
    ch.write(big);
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST((result.failure == ForwardFailure::none));
  BOOST_TEST(apache.response_sum.value == expected.value);
  BOOST_TEST(report.peak_buffer <= 128u * 1024);
}

// A generator's blocks: each arrives complete and flushed, in order, whatever its size
// (copied into the batch, framed in place, or more than one sendmsg's worth).
BOOST_AUTO_TEST_CASE(write_flushed_blocks_arrive_in_order_each_flushed) {
  FakeApache apache;
  std::vector<std::string> blocks;
  for (std::size_t size : {std::size_t{5}, std::size_t{16 * 1024}, std::size_t{64 * 1024},
                           std::size_t{100000}, std::size_t{5 << 20}}) {
    std::string block(size, '\0');
    Stream().fill(block.data(), block.size());
    blocks.push_back(std::move(block));
  }
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {});
    for (const std::string& block : blocks) ch.write_flushed(block);
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST(report.error_text == "");
  BOOST_TEST((result.failure == ForwardFailure::none));
  std::string expected;
  for (const std::string& block : blocks) expected += block;
  BOOST_TEST(apache.response.size() == expected.size());
  BOOST_TEST((apache.response == expected));
  // Every block is followed by a flush before the next block's bytes.
  std::size_t flushes = 0;
  for (const std::string& e : apache.events) flushes += e == "flush";
  BOOST_TEST(flushes == blocks.size());
  BOOST_TEST(apache.events.back() == "flush");
}

BOOST_AUTO_TEST_CASE(small_post_body_and_empty_body) {
  FakeApache apache;
  apache.body = "name=value&x=1";
  std::string got;
  std::size_t after_end = 99;
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    char buffer[4];
    while (std::size_t n = ch.read(buffer, sizeof buffer)) got.append(buffer, n);
    after_end = ch.read(buffer, sizeof buffer);  // stays at end
    ch.start_response("201 Created", {});
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST(got == apache.body);
  BOOST_TEST(after_end == 0u);
  BOOST_TEST((result.failure == ForwardFailure::none));
  BOOST_TEST(apache.status == "201 Created");
}

BOOST_AUTO_TEST_CASE(body_error_reaches_the_application_as_the_same_error) {
  FakeApache apache;
  apache.body = "partial";
  apache.body_error = ChannelError(ChannelError::Kind::bad_request_body, "bad chunk size");
  std::string got;
  std::optional<ChannelError::Kind> kind;
  std::string message;
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    char buffer[100];
    try {
      while (std::size_t n = ch.read(buffer, sizeof buffer)) got.append(buffer, n);
    } catch (const ChannelError& e) {
      kind = e.kind();
      message = e.what();
    }
    ch.start_response("400 Bad Request", {});
    ch.write("bad body");
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST(got == "partial");
  BOOST_TEST((kind == ChannelError::Kind::bad_request_body));
  BOOST_TEST(message == "bad chunk size");
  BOOST_TEST((result.failure == ForwardFailure::none));
  BOOST_TEST(apache.status == "400 Bad Request");
}

BOOST_AUTO_TEST_CASE(file_descriptor_passing) {
  char path[] = "/tmp/gantry-link-test-XXXXXX";
  const int file = ::mkstemp(path);
  BOOST_REQUIRE(file >= 0);
  ::unlink(path);
  const std::string content = "0123456789abcdefghijklmnopqrstuvwxyz";
  BOOST_REQUIRE(::write(file, content.data(), content.size()) == ssize_t(content.size()));

  for (bool works : {true, false}) {
    FakeApache apache;
    apache.send_file_works = works;
    DaemonReport report;
    bool sent = false;
    auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
      ch.start_response("200 OK", {});
      ch.write("<");
      sent = ch.send_file(file, 10, 20);
      ch.write(">");
      r.finished = ch.finish(Outcome::ok);
    }, report);
    BOOST_TEST(sent);
    BOOST_TEST((result.failure == ForwardFailure::none), result.detail);
    if (works) {
      BOOST_TEST(apache.file_seen == content.substr(10, 20));
      BOOST_TEST(apache.response == "<>");
      BOOST_TEST((apache.events == std::vector<std::string>{"start", "write", "file", "write"}));
    } else {
      // apache_side could not sendfile(): the forwarder reads the descriptor itself.
      BOOST_TEST(apache.response == "<" + content.substr(10, 20) + ">");
    }
  }
  // The daemon's own descriptor is still open and untouched.
  BOOST_TEST(::fcntl(file, F_GETFD) >= 0);

  // The FILE frame waits to leave with END; the application may close its file before.
  {
    FakeApache apache;
    DaemonReport report;
    auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
      ch.start_response("200 OK", {});
      const int own = ::dup(file);
      BOOST_TEST(ch.send_file(own, 0, 10));
      ::close(own);  // as wsgi.file_wrapper's close() does right after the send
      r.finished = ch.finish(Outcome::ok);
    }, report);
    BOOST_TEST((result.failure == ForwardFailure::none), result.detail);
    BOOST_TEST(apache.file_seen == content.substr(0, 10));
  }

  // A file that is shorter than announced: the response is aborted, with its own id.
  FakeApache apache;
  apache.send_file_works = false;
  DaemonReport report;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {});
    ch.send_file(file, 30, 100);
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST((result.outcome == Outcome::aborted));
  BOOST_TEST(contains(result.detail, "GANTRY0319"));
  ::close(file);

  // Not a regular file: the daemon end declines, so the adapter falls back to write().
  int pipe_fds[2];
  BOOST_REQUIRE(::pipe(pipe_fds) == 0);
  FakeApache apache2;
  bool accepted = true;
  DaemonReport report2;
  run_link(apache2, [&](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {});
    accepted = ch.send_file(pipe_fds[0], 0, 10);
    r.finished = ch.finish(Outcome::ok);
  }, report2);
  BOOST_TEST(!accepted);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

BOOST_AUTO_TEST_CASE(log_lines_are_relayed_in_order) {
  FakeApache apache;
  DaemonReport report;
  run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    ch.log(gantry::Level::error, "before the response");
    ch.start_response("200 OK", {});
    ch.log(gantry::Level::warning, "wsgi.errors line");
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_REQUIRE_EQUAL(apache.logs.size(), 2u);
  BOOST_TEST((apache.logs[0].first == gantry::Level::error));
  BOOST_TEST(apache.logs[0].second == "before the response");
  BOOST_TEST((apache.logs[1].first == gantry::Level::warning));
  BOOST_TEST(apache.logs[1].second == "wsgi.errors line");
}

BOOST_AUTO_TEST_CASE(outcomes_without_a_response) {
  for (auto [outcome, status] : {std::pair{Outcome::not_found, 404}, {Outcome::server_error, 500}}) {
    FakeApache apache;
    DaemonReport report;
    auto result = run_link(apache, [&, o = outcome](SocketChannel& ch, DaemonReport& r) {
      r.finished = ch.finish(o);
    }, report);
    BOOST_TEST((result.failure == ForwardFailure::none));
    BOOST_TEST((result.outcome == outcome));
    BOOST_TEST(!result.response_started);
    BOOST_TEST(result.http_status() == status);
  }
}

BOOST_AUTO_TEST_CASE(daemon_hang_up_before_headers_is_502) {
  FakeApache apache;
  DaemonReport report;
  auto result = run_link(apache, [](SocketChannel&, DaemonReport&) {}, report);
  BOOST_TEST((result.failure == ForwardFailure::daemon_closed));
  BOOST_TEST(!result.response_started);
  BOOST_TEST(result.http_status() == 502);
  BOOST_TEST(contains(result.detail, "GANTRY0310"));
  BOOST_TEST(apache.events.empty());
}

BOOST_AUTO_TEST_CASE(daemon_hang_up_mid_response_aborts) {
  FakeApache apache;
  DaemonReport report;
  auto result = run_link(apache, [](SocketChannel& ch, DaemonReport&) {
    ch.start_response("200 OK", {});
    ch.write(std::string(100000, 'x'));
  }, report);
  BOOST_TEST((result.failure == ForwardFailure::daemon_closed));
  BOOST_TEST((result.outcome == Outcome::aborted));
  BOOST_TEST(result.http_status() == 0);
  BOOST_TEST(contains(result.detail, "GANTRY0311"));
  BOOST_TEST(apache.response.size() == 100000u);
}

BOOST_AUTO_TEST_CASE(silent_daemon_times_out_as_504) {
  FakeApache apache;
  gantry::ForwardLimits limits;
  limits.socket_timeout = 200ms;
  DaemonReport report;
  const auto started = std::chrono::steady_clock::now();
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    // The forwarder gives up and shuts the socket down; the daemon notices on its next write.
    std::this_thread::sleep_for(400ms);
    ch.start_response("200 OK", {});
    ch.write("too late");
    ch.flush();
    r.finished = ch.finish(Outcome::ok);
  }, report, limits);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  BOOST_TEST((result.failure == ForwardFailure::timeout));
  BOOST_TEST(result.http_status() == 504);
  BOOST_TEST(contains(result.detail, "GANTRY0312"));
  BOOST_TEST(contains(result.detail, "200 ms"));
  BOOST_TEST((report.channel_error == ChannelError::Kind::client_gone));
  BOOST_TEST((elapsed < 2s));
}

BOOST_AUTO_TEST_CASE(oversized_response_header_is_named) {
  FakeApache apache;
  DaemonReport report;
  auto result = run_link(apache, [](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {{"X-Small", "1"}, {"WWW-Authenticate", std::string(40000, 'a')}});
    ch.write("body");
    ch.flush();
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST((result.failure == ForwardFailure::header_too_large));
  BOOST_TEST(result.http_status() == 500);
  BOOST_TEST(contains(result.detail, "GANTRY0313"));
  BOOST_TEST(contains(result.detail, "'WWW-Authenticate'"));
  BOOST_TEST(contains(result.detail, "header-buffer-size=32768"));
  BOOST_TEST(apache.events.empty());  // nothing reached the client
}

BOOST_AUTO_TEST_CASE(client_gone_mid_response_is_noticed_by_the_daemon) {
  FakeApache apache;
  apache.fail_writes_after = 1 << 20;
  apache.keep_response = false;
  DaemonReport report;
  std::uint64_t written = 0;
  auto result = run_link(apache, [&](SocketChannel& ch, DaemonReport& r) {
    ch.start_response("200 OK", {});
    std::string chunk(256 * 1024, 'z');
    for (int i = 0; i < 1000; ++i) {  // 250 MiB if nobody stopped it
      ch.write(chunk);
      written += chunk.size();
    }
    r.finished = ch.finish(Outcome::ok);
  }, report);
  BOOST_TEST((result.failure == ForwardFailure::client_gone));
  BOOST_TEST((result.outcome == Outcome::aborted));
  BOOST_TEST(contains(result.detail, "GANTRY0316"));
  BOOST_TEST((report.channel_error == ChannelError::Kind::client_gone));
  BOOST_TEST(!report.finished);
  BOOST_TEST(written < 8u << 20);  // stopped soon, not after the whole loop
}

BOOST_AUTO_TEST_CASE(wrong_secret_is_refused_on_both_ends) {
  FakeApache apache;
  DaemonReport report;
  p::Secret other = kSecret;
  other[31] ^= 1;
  auto result = run_link(apache, [](SocketChannel&, DaemonReport&) {}, report, {}, other);
  BOOST_TEST(!report.constructed);
  BOOST_TEST((report.protocol_error == p::ProtocolError::Kind::bad_secret));
  BOOST_TEST((result.failure == ForwardFailure::daemon_closed));
  BOOST_TEST(result.http_status() == 502);
}

BOOST_AUTO_TEST_SUITE_END()

// The daemon end against raw bytes: what a hostile or broken peer can make it do.
BOOST_AUTO_TEST_SUITE(daemon_end_rejects)

namespace {

struct RawPair {
  int peer = -1;
  int daemon = -1;
  RawPair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    peer = fds[0];
    daemon = fds[1];
  }
  ~RawPair() {
    ::close(peer);
    ::close(daemon);
  }
  void send(std::string_view bytes) const {
    BOOST_REQUIRE(::send(peer, bytes.data(), bytes.size(), 0) == ssize_t(bytes.size()));
  }
  // Bytes still unread on the daemon's side of the socket.
  std::size_t unread() const {
    char buffer[4096];
    const ssize_t n = ::recv(daemon, buffer, sizeof buffer, MSG_DONTWAIT | MSG_PEEK);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
};

p::ProtocolError::Kind rejection(const RawPair& pair, std::chrono::milliseconds timeout = 2000ms) {
  gantry::SocketChannelOptions options;
  options.socket_timeout = timeout;
  try {
    SocketChannel channel(pair.daemon, kSecret, options);
  } catch (const p::ProtocolError& e) {
    return e.kind();
  }
  BOOST_FAIL("the daemon end accepted the connection");
  return p::ProtocolError::Kind::malformed;
}

std::string hello(std::uint16_t version = p::kProtocolVersion, const p::Secret& secret = kSecret) {
  std::string frame;
  p::append_hello(frame, secret);
  frame[16] = static_cast<char>(version & 0xff);
  frame[17] = static_cast<char>(version >> 8);
  return frame;
}

}  // namespace

// The daemon may receive what follows HELLO in the same recv (H-E: one recv per request),
// but it interprets nothing after a HELLO that fails: bytes that would be refused for
// another reason (an unknown frame type) must not change which refusal the peer gets.
BOOST_AUTO_TEST_CASE(wrong_version_without_reading_further) {
  RawPair pair;
  char garbage[8];
  p::put_header(garbage, p::FrameType::data, 0);
  garbage[0] = 42;
  pair.send(hello(p::kProtocolVersion + 1) + std::string(garbage, 8));
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::bad_version));
}

BOOST_AUTO_TEST_CASE(wrong_secret_without_reading_further) {
  RawPair pair;
  p::Secret other = kSecret;
  other[0] ^= 0x80;
  char huge[8];
  p::put_header(huge, p::FrameType::request, 0xfffffff0u);
  pair.send(hello(p::kProtocolVersion, other) + std::string(huge, 8) + "trailing bytes");
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::bad_secret));
}

BOOST_AUTO_TEST_CASE(garbage_is_refused_after_eight_bytes) {
  RawPair pair;
  pair.send("GET / HT");  // an HTTP client that found the socket; no more bytes follow
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::unknown_type));
  BOOST_TEST((std::chrono::steady_clock::now() - started < 1s));  // did not wait for a HELLO
}

BOOST_AUTO_TEST_CASE(wrong_magic_is_refused) {
  RawPair pair;
  std::string frame = hello();
  frame[10] = '?';
  pair.send(frame.substr(0, 16));
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::bad_magic));
}

BOOST_AUTO_TEST_CASE(truncated_hello_and_request) {
  {
    RawPair pair;
    pair.send(hello().substr(0, 30));
    ::shutdown(pair.peer, SHUT_WR);
    BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::truncated));
  }
  {
    RawPair pair;
    std::string request;
    p::append_request(request, std::vector<gantry::EnvEntry>{{"KEY", "VALUE"}}, {});
    pair.send(hello() + request.substr(0, request.size() - 3));
    ::shutdown(pair.peer, SHUT_WR);
    BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::truncated));
  }
}

BOOST_AUTO_TEST_CASE(oversized_request_length_rejected_before_allocation) {
  RawPair pair;
  char header[8];
  p::put_header(header, p::FrameType::request, 0xfffffff0u);
  pair.send(hello() + std::string(header, 8));
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::oversized));

  // The reader's buffer never grew for the lie.
  RawPair pair2;
  pair2.send(std::string(header, 8));
  p::FrameReader reader(pair2.daemon);
  try {
    reader.read(1000ms);
    BOOST_FAIL("accepted");
  } catch (const p::ProtocolError& e) {
    BOOST_TEST((e.kind() == p::ProtocolError::Kind::oversized));
  }
  BOOST_TEST(reader.peak_buffer_bytes() <= p::kHeaderSize + p::kMaxChunk);
}

BOOST_AUTO_TEST_CASE(unknown_frame_type_after_hello) {
  RawPair pair;
  char header[8];
  p::put_header(header, p::FrameType::data, 0);
  header[0] = 42;
  pair.send(hello() + std::string(header, 8));
  BOOST_TEST((rejection(pair) == p::ProtocolError::Kind::unknown_type));
}

BOOST_AUTO_TEST_CASE(body_beyond_credit_is_an_error) {
  RawPair pair;
  std::string frames = hello();
  p::append_request(frames, std::vector<gantry::EnvEntry>{}, {});
  char header[8];
  p::put_header(header, p::FrameType::body, 10);  // never granted
  frames += std::string(header, 8) + "0123456789";
  pair.send(frames);
  gantry::SocketChannelOptions options;
  options.socket_timeout = 1000ms;
  options.body_window = 4;  // grants 4 bytes; the peer sends 10
  SocketChannel channel(pair.daemon, kSecret, options);
  char buffer[16];
  try {
    channel.read(buffer, sizeof buffer);
    BOOST_FAIL("accepted");
  } catch (const ChannelError& e) {
    BOOST_TEST((e.kind() == ChannelError::Kind::internal));
    BOOST_TEST(contains(e.what(), "more than it was granted"));
  }
}

BOOST_AUTO_TEST_CASE(apache_side_hang_up_during_body_is_client_gone) {
  RawPair pair;
  std::string frames = hello();
  p::append_request(frames, std::vector<gantry::EnvEntry>{}, {});
  pair.send(frames);
  gantry::SocketChannelOptions options;
  options.socket_timeout = 1000ms;
  SocketChannel channel(pair.daemon, kSecret, options);
  ::shutdown(pair.peer, SHUT_WR);
  char buffer[16];
  try {
    channel.read(buffer, sizeof buffer);
    BOOST_FAIL("accepted");
  } catch (const ChannelError& e) {
    BOOST_TEST((e.kind() == ChannelError::Kind::client_gone));
  }
}

BOOST_AUTO_TEST_SUITE_END()

// The forwarder against a daemon that sends raw bytes: what a broken daemon can make the
// Apache child do.
BOOST_AUTO_TEST_SUITE(forwarder_rejects)

namespace {

// Runs forward_request against `reply`, written by a fake daemon after it has read the
// request bytes (everything up to the end of REQUEST), then closes.
ForwardResult against_raw_daemon(FakeApache& apache, const std::string& reply,
                                 gantry::ForwardLimits limits = {}) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  std::thread daemon([fd = fds[1], reply] {
    // Drain HELLO + REQUEST: the REQUEST header says how long it is.
    std::string in;
    char buffer[65536];
    while (true) {
      if (in.size() >= 60) {
        const auto request = p::parse_header(in.data() + 52);
        if (in.size() >= 60 + request.length) break;
      }
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      in.append(buffer, static_cast<std::size_t>(n));
    }
    ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(fd);
  });
  ForwardResult result = gantry::forward_request(fds[0], kSecret, apache, limits);
  daemon.join();
  ::close(fds[0]);
  return result;
}

std::string response_start() {
  std::string out;
  p::append_response_start(out, "200 OK", {});
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(truncated_frame_mid_response) {
  FakeApache apache;
  char header[8];
  p::put_header(header, p::FrameType::data, 1000);
  auto result = against_raw_daemon(apache, response_start() + std::string(header, 8) + "only a bit");
  BOOST_TEST((result.failure == ForwardFailure::protocol_error));
  BOOST_TEST((result.outcome == Outcome::aborted));
  BOOST_TEST(contains(result.detail, "GANTRY0314"));
  BOOST_TEST(contains(result.detail, "in the middle of a frame"));
}

BOOST_AUTO_TEST_CASE(oversized_and_unknown_frames_before_headers_are_502) {
  FakeApache apache;
  char header[8];
  p::put_header(header, p::FrameType::response_start, 0x7fffffffu);
  auto result = against_raw_daemon(apache, std::string(header, 8));
  BOOST_TEST((result.failure == ForwardFailure::protocol_error));
  BOOST_TEST(result.http_status() == 502);
  BOOST_TEST(contains(result.detail, "more than its limit"));
  BOOST_TEST(result.peak_buffer_bytes < 256u * 1024);  // the lie allocated nothing

  FakeApache apache2;
  p::put_header(header, p::FrameType::data, 0);
  header[0] = static_cast<char>(200);
  auto result2 = against_raw_daemon(apache2, std::string(header, 8));
  BOOST_TEST((result2.failure == ForwardFailure::protocol_error));
  BOOST_TEST(contains(result2.detail, "unknown frame type 200"));
}

BOOST_AUTO_TEST_CASE(out_of_order_frames) {
  std::string data;
  p::append_empty(data, p::FrameType::flush);  // harmless before headers
  char header[8];
  p::put_header(header, p::FrameType::data, 2);
  FakeApache apache;
  auto result = against_raw_daemon(apache, data + std::string(header, 8) + "hi");
  BOOST_TEST((result.failure == ForwardFailure::protocol_error));
  BOOST_TEST(contains(result.detail, "DATA before RESPONSE_START"));

  std::string end_ok;
  p::append_end(end_ok, Outcome::ok);
  FakeApache apache2;
  auto result2 = against_raw_daemon(apache2, end_ok);
  BOOST_TEST(contains(result2.detail, "END ok without a response"));

  std::string file;
  p::append_file(file, 0, 10);  // no descriptor attached
  FakeApache apache3;
  auto result3 = against_raw_daemon(apache3, response_start() + file);
  BOOST_TEST(contains(result3.detail, "without a file descriptor"));

  std::string body;
  p::append_empty(body, p::FrameType::body_end);  // a frame only Apache may send
  FakeApache apache4;
  auto result4 = against_raw_daemon(apache4, body);
  BOOST_TEST(contains(result4.detail, "unexpected BODY_END frame"));
}

BOOST_AUTO_TEST_CASE(response_splitting_from_the_daemon_is_refused) {
  for (auto [status, header] :
       {std::pair<std::string, gantry::Header>{"200 OK", {"X-Evil", "a\r\nSet-Cookie: x=1"}},
        {"200 OK", {"Bad Name", "v"}},
        {"200 OK", {"Connection", "close"}},
        {"200 OK\r\nX: y", {"A", "b"}},
        {"abc", {"A", "b"}}}) {
    std::string frame;
    p::append_response_start(frame, status, {header});
    FakeApache apache;
    auto result = against_raw_daemon(apache, frame);
    BOOST_TEST((result.failure == ForwardFailure::protocol_error), header.name);
    BOOST_TEST(result.http_status() == 502);
    BOOST_TEST(apache.events.empty());
  }
}

BOOST_AUTO_TEST_CASE(daemon_abort_is_reported_with_its_reason) {
  std::string abort;
  p::append_abort(abort, ChannelError::Kind::internal, "shutting down");
  FakeApache apache;
  auto result = against_raw_daemon(apache, abort);
  BOOST_TEST((result.failure == ForwardFailure::daemon_aborted));
  BOOST_TEST(result.http_status() == 502);
  BOOST_TEST(contains(result.detail, "GANTRY0315"));
  BOOST_TEST(contains(result.detail, "shutting down"));
}

BOOST_AUTO_TEST_SUITE_END()
