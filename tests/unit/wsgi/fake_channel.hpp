#pragma once
// A RequestChannel for driving the WSGI adapter in tests: canned environ and body (fed
// in configurable chunk sizes), captured status/headers/body/logs, injectable failures,
// and a check that every call arrives with the GIL released.
#include <Python.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gantry/channel.hpp"

namespace gantry::test {

struct LogLine {
  Level level;
  std::string text;
};

class FakeChannel : public RequestChannel {
 public:
  FakeChannel() {
    env = {{"REQUEST_METHOD", "GET"}, {"SCRIPT_NAME", "/app"},     {"PATH_INFO", "/"},
           {"QUERY_STRING", ""},      {"SERVER_NAME", "localhost"}, {"SERVER_PORT", "80"},
           {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REMOTE_ADDR", "127.0.0.1"}};
  }

  void set_env(const std::string& key, const std::string& value) {
    for (auto& e : env) {
      if (e.key == key) {
        e.value = value;
        return;
      }
    }
    env.push_back({key, value});
  }

  std::span<const EnvEntry> environ() const override { return env; }
  ServerTraits traits() const override { return server_traits; }

  std::size_t read(char* buffer, std::size_t size) override {
    note_call();
    ++read_calls;
    if (read_error) throw ChannelError(ChannelError::Kind::timeout, *read_error);
    if (body_pos >= body.size()) return 0;
    std::size_t chunk = chunk_sizes.empty() ? body.size() : chunk_sizes[chunk_index++ % chunk_sizes.size()];
    std::size_t n = std::min({size, chunk, body.size() - body_pos});
    body.copy(buffer, n, body_pos);
    body_pos += n;
    return n;
  }

  void start_response(std::string_view s, const std::vector<Header>& h) override {
    note_call();
    ++start_calls;
    status.assign(s);
    headers = h;
  }

  void write(std::string_view data) override {
    note_call();
    if (start_calls == 0) ++writes_before_start;
    if (fail_on_write && writes + 1 >= *fail_on_write) {
      throw ChannelError(ChannelError::Kind::client_gone, "client closed connection");
    }
    ++writes;
    out.append(data);
  }

  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override {
    note_call();
    ++send_file_calls;
    if (!sendfile_supported) return false;
    last_send_file = {offset, length};
    std::string data(length, '\0');
    ssize_t n = ::pread(fd, data.data(), length, static_cast<off_t>(offset));
    if (n < 0) throw ChannelError(ChannelError::Kind::internal, "pread failed");
    out.append(data.data(), static_cast<std::size_t>(n));
    return true;
  }

  void flush() override {
    note_call();
    ++flushes;
  }

  void log(Level level, std::string_view message) override {
    note_call();
    std::lock_guard lock(mutex);
    logs.push_back({level, std::string(message)});
  }

  bool logged(const std::string& needle, std::optional<Level> level = std::nullopt) const {
    std::lock_guard lock(mutex);
    for (const auto& l : logs) {
      if (l.text.find(needle) != std::string::npos && (!level || *level == l.level)) return true;
    }
    return false;
  }
  int count_logged(const std::string& needle) const {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& l : logs) n += l.text.find(needle) != std::string::npos;
    return n;
  }
  // Lines at error level or worse, other than those containing `except`.
  int errors_logged(const std::string& except = "\x01") const {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& l : logs) n += l.level <= Level::error && l.text.find(except) == std::string::npos;
    return n;
  }
  std::string all_logs() const {
    std::lock_guard lock(mutex);
    std::string s;
    for (const auto& l : logs) s += "[" + std::to_string(static_cast<int>(l.level)) + "] " + l.text + "\n";
    return s;
  }
  std::optional<std::string> header(const std::string& name) const {
    for (const auto& h : headers) {
      if (h.name == name) return h.value;
    }
    return std::nullopt;
  }

  // Inputs
  std::vector<EnvEntry> env;
  ServerTraits server_traits{true, false, false};
  std::string body;
  std::vector<std::size_t> chunk_sizes;  // sizes read() hands out in turn (empty: all at once)
  std::optional<std::string> read_error;
  std::optional<int> fail_on_write;  // the n-th write throws client_gone
  bool sendfile_supported = true;

  // Observations
  std::size_t body_pos = 0;
  std::size_t chunk_index = 0;
  int read_calls = 0, start_calls = 0, writes = 0, flushes = 0, send_file_calls = 0, writes_before_start = 0;
  int calls_with_gil = 0;
  std::string status;
  std::vector<Header> headers;
  std::string out;
  std::pair<std::uint64_t, std::uint64_t> last_send_file{0, 0};
  std::vector<LogLine> logs;

 private:
  // The adapter must drop the GIL before calling the server.
  void note_call() {
    PyThreadState* current = _PyThreadState_UncheckedGet();  // 3.11: whoever holds the GIL
    if (current && current->thread_id == PyThread_get_thread_ident()) ++calls_with_gil;
  }
  mutable std::mutex mutex;
};

}  // namespace gantry::test
