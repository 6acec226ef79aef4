// Micro-benchmark of the Apache child <-> daemon protocol, not a test: both ends in one
// process, a daemon thread accepting on an abstract AF_UNIX listener, one connect per
// request exactly as mod_gantry does it.
//
//   build:  cmake --build BUILD --target gantry_core, then
//           g++ -O2 -std=c++20 -Iinclude bench/protocol_roundtrip.cpp
//               BUILD/core/libgantry_core.a -o BUILD/protocol_roundtrip -pthread
//   run:    BUILD/protocol_roundtrip [requests=20000] [stream_mib=256]
//
// Reports (1) hello-world round trips per second (connect, HELLO+REQUEST with a typical
// 30-entry environ, RESPONSE_START+DATA+FLUSH+END, close), and (2) streaming throughput
// of a large request body and a large response.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gantry/daemon_forwarder.hpp"
#include "gantry/socket_channel.hpp"

namespace {

using Clock = std::chrono::steady_clock;

class BenchApache : public gantry::RequestChannel {
 public:
  std::vector<gantry::EnvEntry> env;
  std::uint64_t body_left = 0;
  std::uint64_t received = 0;

  BenchApache() {
    const char* pairs[][2] = {
        {"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/hello"}, {"SCRIPT_NAME", ""},
        {"PATH_INFO", "/hello"}, {"QUERY_STRING", ""}, {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"SERVER_NAME", "localhost"}, {"SERVER_PORT", "80"}, {"SERVER_ADDR", "127.0.0.1"},
        {"REMOTE_ADDR", "127.0.0.1"}, {"REMOTE_PORT", "54321"}, {"DOCUMENT_ROOT", "/var/www/html"},
        {"SERVER_SOFTWARE", "Apache/2.4.62 (Debian)"}, {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"SCRIPT_FILENAME", "/srv/app/app.wsgi"}, {"CONTEXT_DOCUMENT_ROOT", "/var/www/html"},
        {"CONTEXT_PREFIX", ""}, {"SERVER_ADMIN", "webmaster@localhost"},
        {"REQUEST_SCHEME", "http"}, {"HTTP_HOST", "localhost"},
        {"HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"},
        {"HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        {"HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.5"}, {"HTTP_ACCEPT_ENCODING", "gzip, deflate"},
        {"HTTP_CONNECTION", "keep-alive"}, {"HTTP_COOKIE", "session=0123456789abcdef0123456789"},
        {"mod_wsgi.process_group", "app"}, {"mod_wsgi.application_group", "localhost|"},
        {"mod_wsgi.callable_object", "application"}, {"mod_wsgi.script_reloading", "1"}};
    for (auto& kv : pairs) env.push_back({kv[0], kv[1]});
  }
  std::span<const gantry::EnvEntry> environ() const override { return env; }
  gantry::ServerTraits traits() const override { return {true, true, false}; }
  std::size_t read(char* buffer, std::size_t size) override {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, body_left));
    std::memset(buffer, 'b', n);
    body_left -= n;
    return n;
  }
  void start_response(std::string_view, const std::vector<gantry::Header>&) override {}
  void write(std::string_view data) override { received += data.size(); }
  bool send_file(int, std::uint64_t, std::uint64_t) override { return false; }
  void flush() override {}
  void log(gantry::Level, std::string_view) override {}
};

sockaddr_un bench_address(socklen_t& length) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string name = "gantry-bench-" + std::to_string(::getpid());
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // abstract namespace
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return address;
}

// mode 0: hello world; 1: read and discard the body; 2: stream `stream_bytes` back.
void daemon_loop(int listener, const gantry::protocol::Secret& secret, int requests, int mode,
                 std::uint64_t stream_bytes) {
  std::vector<char> buffer(1 << 20, 'r');
  for (int i = 0; i < requests; ++i) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) std::abort();
    {
      gantry::SocketChannel channel(fd, secret, {});
      if (mode == 1) {
        std::uint64_t total = 0;
        while (const std::size_t n = channel.read(buffer.data(), 64 * 1024)) total += n;
        if (total != stream_bytes) std::abort();  // the figure must be for real bytes
      }
      channel.start_response("200 OK", {{"Content-Type", "text/plain"}, {"Content-Length", "13"}});
      if (mode == 2) {
        for (std::uint64_t left = stream_bytes; left > 0;) {
          const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
          channel.write(std::string_view(buffer.data(), n));
          left -= n;
        }
      } else {
        channel.write("Hello World!\n");
      }
      channel.flush();
      channel.finish(gantry::Outcome::ok);
    }
    ::close(fd);
  }
}

double run(int listener, const sockaddr_un& address, socklen_t length,
           const gantry::protocol::Secret& secret, int requests, int mode, std::uint64_t bytes) {
  std::thread daemon(daemon_loop, listener, std::cref(secret), requests, mode, bytes);
  BenchApache apache;
  const auto start = Clock::now();
  for (int i = 0; i < requests; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) std::abort();
    apache.body_left = mode == 1 ? bytes : 0;
    const auto result = gantry::forward_request(fd, secret, apache, {});
    if (result.failure != gantry::ForwardFailure::none) {
      std::fprintf(stderr, "failed: %s\n", result.detail.c_str());
      std::abort();
    }
    ::close(fd);
    if (mode == 2 && apache.received != bytes) std::abort();
    apache.received = 0;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  daemon.join();
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 20000;
  const std::uint64_t stream_bytes = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256) << 20;
  const auto secret = gantry::protocol::generate_secret();

  socklen_t length;
  const sockaddr_un address = bench_address(length);
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
      ::listen(listener, 128) != 0) {
    std::perror("listen");
    return 1;
  }

  run(listener, address, length, secret, 1000, 0, 0);  // warm up
  const double hello = run(listener, address, length, secret, requests, 0, 0);
  std::printf("hello world: %d requests in %.3f s = %.0f requests/s, %.1f us per request\n",
              requests, hello, requests / hello, hello * 1e6 / requests);

  const double upload = run(listener, address, length, secret, 1, 1, stream_bytes);
  std::printf("request body: %llu MiB in %.3f s = %.0f MiB/s\n",
              static_cast<unsigned long long>(stream_bytes >> 20), upload,
              (stream_bytes >> 20) / upload);
  const double download = run(listener, address, length, secret, 1, 2, stream_bytes);
  std::printf("response body: %llu MiB in %.3f s = %.0f MiB/s\n",
              static_cast<unsigned long long>(stream_bytes >> 20), download,
              (stream_bytes >> 20) / download);
  ::close(listener);
  return 0;
}
