#pragma once
// The Apache child's end of an auth check in a daemon group (AUTH_QUERY / AUTH_REPLY in
// protocol.hpp): WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript with
// process-group=.
//
//   const ScopedFd fd(/* connected to the group's socket */);
//   DaemonAuthResult r = ask_daemon_auth(fd.get(), secret, query, environ, timeout, request_log);
//   if (!r.delivered) log(r.detail) and fail closed; else use r.reply
//
// The daemon's LOG frames (the script's traceback, wsgi.errors) go to `log` as they come.
// Never throws. The descriptor stays the caller's.
#include <chrono>
#include <span>
#include <string>

#include "gantry/auth_check.hpp"
#include "gantry/channel.hpp"
#include "gantry/log.hpp"
#include "gantry/protocol.hpp"

namespace gantry {

struct DaemonAuthResult {
  bool delivered = false;  // AUTH_REPLY arrived; `reply` is the daemon's answer
  AuthReply reply;         // AuthAnswer::error when not delivered
  std::string detail;      // why not (timeout, hang-up, protocol error), when !delivered
};

DaemonAuthResult ask_daemon_auth(int fd, const protocol::Secret& secret, const AuthQuery& query,
                                 std::span<const EnvEntry> environ, std::chrono::milliseconds timeout,
                                 Logger& log) noexcept;

}  // namespace gantry
