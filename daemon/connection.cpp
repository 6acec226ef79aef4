#include "connection.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <unistd.h>

#include "gantry/socket_channel.hpp"

namespace gantry::daemon {
namespace {

std::string_view find(std::span<const EnvEntry> environ, std::string_view key) {
  for (const EnvEntry& e : environ)
    if (e.key == key) return e.value;
  return {};
}

// What the Apache child resolved for this request travels in the environ, under the same
// keys mod_wsgi exposes to the application; the daemon trusts it (the peer proved the secret).
ScriptTarget target_from(std::span<const EnvEntry> environ) {
  ScriptTarget target;
  target.script_path = find(environ, "SCRIPT_FILENAME");
  target.application_group = find(environ, "mod_wsgi.application_group");
  std::string_view callable = find(environ, "mod_wsgi.callable_object");
  if (!callable.empty()) target.callable = callable;
  target.reload_on_change = find(environ, "mod_wsgi.script_reloading") == "1";
  return target;
}

void log(const DaemonRunSpec& spec, Level level, const std::string& message) {
  if (spec.logger) spec.logger->log(level, message);
}

}  // namespace

void serve_connection(int fd, const DaemonRunSpec& spec, const PythonApi& python, Lifecycle& life) {
  SocketChannelOptions options;
  options.socket_timeout = std::chrono::milliseconds(static_cast<long long>(spec.socket_timeout * 1000));
  options.fallback_logger = spec.logger;
  std::optional<Lifecycle::Token> token;
  std::string method, uri;
  try {
    protocol::Secret secret;
    std::copy(spec.secret.begin(), spec.secret.end(), secret.begin());
    SocketChannel channel(fd, secret, options);
    method = find(channel.environ(), "REQUEST_METHOD");
    uri = find(channel.environ(), "REQUEST_URI");
    token = life.request_started();
    Outcome outcome = python.run_request(target_from(channel.environ()), channel);
    channel.finish(outcome);
  } catch (const protocol::ProtocolError& e) {
    log(spec, Level::error, "GANTRY0206: daemon process refused a connection (group " + spec.group +
                                "): " + e.what());
  } catch (const ChannelError& e) {
    log(spec, Level::info, "GANTRY0207: request " + method + " " + uri + " ended early (group " +
                               spec.group + "): " + e.what());
  } catch (const std::exception& e) {
    log(spec, Level::error, "GANTRY0208: request " + method + " " + uri + " failed in the daemon (group " +
                                spec.group + "): " + e.what());
  } catch (...) {
    log(spec, Level::error, "GANTRY0208: request " + method + " " + uri + " failed in the daemon (group " +
                                spec.group + "): unknown exception");
  }
  close(fd);
  if (token) life.request_finished(*token, method, uri);
}

}  // namespace gantry::daemon
