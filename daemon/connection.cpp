#include "connection.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "fork_guard.hpp"
#include "gantry/peer_check.hpp"
#include "gantry/socket_channel.hpp"

namespace gantry::daemon {
namespace {

std::string_view find(std::span<const EnvEntry> environ, std::string_view key) {
  for (const EnvEntry& e : environ)
    if (e.key == key) return e.value;
  return {};
}

// What the Apache child resolved for this request travels in the environ, under the same
// keys mod_wsgi exposes to the application; the daemon trusts it (the peer is an Apache
// child and proved the group's secret).
ScriptTarget target_from(std::span<const EnvEntry> environ) {
  ScriptTarget target;
  // A WSGIHandlerScript serves the file Apache matched (SCRIPT_FILENAME) with its own script.
  target.script_path = find(environ, "mod_wsgi.handler_script");
  if (target.script_path.empty()) target.script_path = find(environ, "SCRIPT_FILENAME");
  target.application_group = find(environ, "mod_wsgi.application_group");
  std::string_view callable = find(environ, "mod_wsgi.callable_object");
  if (!callable.empty()) target.callable = callable;
  target.reload_on_change = find(environ, "mod_wsgi.script_reloading") == "1";
  return target;
}

void log(const DaemonRunSpec& spec, Level level, const std::string& message) {
  if (spec.logger) spec.logger->log(level, message);
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The SocketChannel plus what only the daemon knows: mod_wsgi.daemon_start, the moment a
// request thread took the request (as mod_wsgi sets it), so an application can tell how
// long it queued (daemon_start - queue_start). Each body read and response write also
// tells `life` (inactivity-timeout restarts a process whose requests make no I/O).
class DaemonChannel final : public RequestChannel {
 public:
  DaemonChannel(SocketChannel& inner, std::int64_t started_us, Lifecycle* life = nullptr)
      : inner_(inner), life_(life) {
    inner.add_environ("mod_wsgi.daemon_start", std::to_string(started_us));  // no copy of the rest
  }
  std::span<const EnvEntry> environ() const override { return inner_.environ(); }
  ServerTraits traits() const override { return inner_.traits(); }
  std::size_t read(char* buffer, std::size_t size) override {
    const std::size_t n = inner_.read(buffer, size);
    note_io();
    return n;
  }
  void start_response(std::string_view status, const std::vector<Header>& headers) override {
    inner_.start_response(status, headers);
    note_io();
  }
  void write(std::string_view data) override {
    inner_.write(data);
    note_io();
  }
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override {
    const bool sent = inner_.send_file(fd, offset, length);
    note_io();
    return sent;
  }
  bool buffers_headers() const override { return inner_.buffers_headers(); }
  bool buffers_file() const override { return inner_.buffers_file(); }
  bool buffers_write(std::size_t bytes) const override { return inner_.buffers_write(bytes); }
  void flush() override {
    inner_.flush();
    note_io();
  }
  void write_flushed(std::string_view data) override {
    inner_.write_flushed(data);
    note_io();
  }
  void log(Level level, std::string_view message) override { inner_.log(level, message); }

 private:
  void note_io() noexcept {
    if (life_) life_->note_io();
  }
  SocketChannel& inner_;
  Lifecycle* life_;
};

// The request on this process's status scoreboard (gantry/scoreboard_writer.hpp). It is
// finished - with its failure, if any - before the response's last frame goes out, so a
// client that has its whole response already finds it counted on the gantry-status page.
class ScoreEntry {
 public:
  explicit ScoreEntry(scoreboard::BoardWriter* board) : board_(board) {}
  ScoreEntry(const ScoreEntry&) = delete;
  ScoreEntry& operator=(const ScoreEntry&) = delete;
  ~ScoreEntry() { fail(scoreboard::Failure::internal_error); }  // never left open

  void start(std::string_view method, std::string_view uri, std::int64_t started_us, std::int64_t queue_wait_us) {
    if (!board_) return;
    board_->request_started(method, uri, started_us, queue_wait_us);
    open_ = true;
  }
  void finish(Outcome outcome, bool timed_out = false) {
    using scoreboard::Failure;
    if (outcome == Outcome::server_error) return fail(timed_out ? Failure::request_timeout : Failure::application_error);
    if (outcome == Outcome::aborted) return fail(Failure::aborted);
    close_with(nullptr);
  }
  // A failure ends the request; a connection refused before it started counts too.
  void fail(scoreboard::Failure failure) {
    if (open_ || (board_ && failure == scoreboard::Failure::refused && !done_)) close_with(&failure);
  }

 private:
  void close_with(const scoreboard::Failure* failure) {
    if (!board_ || done_) return;
    board_->request_finished(failure);
    open_ = false;
    done_ = true;
  }
  scoreboard::BoardWriter* board_;
  bool open_ = false;
  bool done_ = false;
};

// How long the request waited between the Apache child sending it (mod_wsgi.queue_start)
// and this thread taking it, in microseconds; -1 if unknown.
std::int64_t queue_wait_us(std::span<const EnvEntry> environ, std::int64_t started_us) {
  const std::string_view queued = find(environ, "mod_wsgi.queue_start");
  std::int64_t queue_start = 0;
  if (std::from_chars(queued.data(), queued.data() + queued.size(), queue_start).ec != std::errc{}) return -1;
  return std::max<std::int64_t>(0, started_us - queue_start);
}

// queue-timeout: a request that waited longer than this between the Apache child sending
// it (mod_wsgi.queue_start) and a request thread taking it is answered 504 without running
// the application - the client has most likely given up, and running it would only make
// the backlog worse. The line travels to the Apache child as a LOG frame, so it is logged
// with the request (client address) by the child that answers.
bool queue_timeout_expired(const DaemonRunSpec& spec, SocketChannel& channel, std::int64_t started_us,
                           const std::string& method, const std::string& uri, ScoreEntry& score) {
  if (spec.queue_timeout <= 0) return false;
  const std::int64_t wait_us = queue_wait_us(channel.environ(), started_us);
  if (wait_us < 0) return false;
  const double waited = static_cast<double>(wait_us) / 1e6;
  if (waited <= spec.queue_timeout) return false;
  char text[512];
  std::snprintf(text, sizeof text,
                "GANTRY0220: daemon group '%s' process %u (pid %ld) took %s %s after %.2f s in"
                " the queue, more than queue-timeout=%.0f s; answering 504 without running the"
                " application - add processes=/threads= or find what keeps them busy",
                spec.group.c_str(), spec.process_index, static_cast<long>(getpid()),
                method.c_str(), uri.c_str(), waited, spec.queue_timeout);
  channel.log(Level::error, text);
  static const std::string body = "Gateway Timeout: the request waited too long for the application.\n";
  channel.start_response("504 Gateway Timeout",
                         {{"Content-Type", "text/plain; charset=utf-8"},
                          {"Content-Length", std::to_string(body.size())}});
  channel.write(body);
  score.fail(scoreboard::Failure::queue_timeout);
  channel.finish(Outcome::ok);
  return true;
}

// The daemon's lines about an auth check (the script's traceback, wsgi.errors) travel to
// the Apache child as LOG frames, like a request's.
class ChannelLogger final : public Logger {
 public:
  explicit ChannelLogger(SocketChannel& channel) : channel_(channel) {}
  void log(Level level, std::string_view message) override { channel_.log(level, message); }

 private:
  SocketChannel& channel_;
};

// WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript with process-group=: the
// Apache child asked for one auth check instead of a request.
void serve_auth_check(SocketChannel& channel, const PythonApi& python) {
  ChannelLogger log(channel);
  channel.finish_auth(python.run_auth_script(*channel.auth_query(), channel.environ(), log));
}

// Only Apache's children may talk to the group (gantry/peer_check.hpp): anything else - a
// daemon process of any group, a process an application forked, a foreign process - is
// refused before a byte is read, with one line per peer, and never more than a few lines
// a minute, however many processes a hostile tenant connects from.
bool peer_allowed(int fd, const DaemonRunSpec& spec) {
  const PeerProcess peer = identify_peer(fd);
  const std::string why = refusal_reason(peer, spec.peer);
  if (why.empty()) return true;
  static RefusalLog refusals;
  const RefusalLog::Decision d = refusals.note(peer.pid, RefusalLog::Clock::now());
  if (d.log) {
    std::string line = "GANTRY0500: daemon group '" + spec.group + "' (pid " + std::to_string(getpid()) +
                       ") refused a connection from pid " + std::to_string(peer.pid) + " (uid " +
                       std::to_string(peer.uid) + (peer.name.empty() ? "" : ", " + peer.name) +
                       "): " + why + "; only Apache's children may connect (see docs/security.md)";
    if (d.suppressed)
      line += "; " + std::to_string(d.suppressed) + " more refusal(s) since the last line were not logged";
    log(spec, Level::error, line);
  }
  return false;
}

// One request (or auth check) on an accepted, checked connection. Never throws: every
// failure is logged and ends only this request. `token` is set once it counts as one.
void serve_request(int fd, const DaemonRunSpec& spec, const PythonApi& python, Lifecycle& life,
                   std::optional<Lifecycle::Token>& token, std::string& method, std::string& uri) {
  SocketChannelOptions options;
  options.socket_timeout = std::chrono::milliseconds(static_cast<long long>(spec.socket_timeout * 1000));
  options.fallback_logger = spec.logger;
  options.response_buffer_size = spec.response_buffer_size;
  ScoreEntry score(spec.board);
  try {
    protocol::Secret secret;
    std::copy(spec.secret.begin(), spec.secret.end(), secret.begin());
    SocketChannel channel(fd, secret, options);
    const std::int64_t started_us = now_us();
    method = find(channel.environ(), "REQUEST_METHOD");
    uri = find(channel.environ(), "REQUEST_URI");
    const ScriptTarget seen = target_from(channel.environ());  // H-D: URL + script reloading
    // WSGIIgnoreActivity On: neither this request nor its I/O counts as activity for
    // inactivity-timeout (health checks must not keep an idle process alive).
    const bool activity = find(channel.environ(), "mod_wsgi.ignore_activity") != "1";
    token = life.request_started(method, uri, channel.auth_query() ? nullptr : &seen, activity);
    score.start(method, uri, started_us, queue_wait_us(channel.environ(), started_us));
    if (channel.auth_query()) {
      serve_auth_check(channel, python);
      score.finish(Outcome::ok);
    } else if (!queue_timeout_expired(spec, channel, started_us, method, uri, score)) {
      DaemonChannel request(channel, started_us, activity ? &life : nullptr);
      Outcome outcome = python.run_request(target_from(request.environ()), request);
      fork_guard::leave_if_fork("a request");  // the application returned in a fork
      // H-D: a request interrupted with mod_wsgi.RequestTimeout (interrupt-timeout) that
      // unwound before its headers went out is a gateway timeout, not an app error.
      const bool timed_out = outcome == Outcome::server_error && life.interrupted(*token);
      score.finish(outcome, timed_out);
      if (timed_out) {
        static const std::string body = "Gateway Timeout: the request exceeded request-timeout.\n";
        channel.start_response("504 Gateway Timeout",
                               {{"Content-Type", "text/plain; charset=utf-8"},
                                {"Content-Length", std::to_string(body.size())}});
        channel.write(body);
        outcome = Outcome::ok;
      }
      channel.finish(outcome);
    }
  } catch (const protocol::ProtocolError& e) {
    score.fail(scoreboard::Failure::refused);
    log(spec, Level::error, "GANTRY0206: daemon process refused a connection (group " + spec.group +
                                "): " + e.what());
  } catch (const ChannelError& e) {
    score.fail(scoreboard::Failure::connection_lost);
    log(spec, Level::info, "GANTRY0207: request " + method + " " + uri + " ended early (group " +
                               spec.group + "): " + e.what());
  } catch (const std::exception& e) {
    log(spec, Level::error, "GANTRY0208: request " + method + " " + uri + " failed in the daemon (group " +
                                spec.group + "): " + e.what());
  } catch (...) {
    log(spec, Level::error, "GANTRY0208: request " + method + " " + uri + " failed in the daemon (group " +
                                spec.group + "): unknown exception");
  }
  // A process the application forked while serving this request, back from it: it
  // neither answers nor counts the request (fork_guard.hpp).
  fork_guard::leave_if_fork("a request");
}

}  // namespace

void serve_connection(ScopedFd fd, const DaemonRunSpec& spec, const PythonApi& python, Lifecycle& life) {
  std::optional<Lifecycle::Token> token;
  std::string method, uri;
  {
    // Guarded against forks while open (fork_guard.hpp), closed at the end of the scope.
    const fork_guard::GuardedFd connection(std::move(fd));
    if (!peer_allowed(connection.get(), spec)) return;
    serve_request(connection.get(), spec, python, life, token, method, uri);
  }
  if (token) life.request_finished(*token, method, uri);
}

}  // namespace gantry::daemon
