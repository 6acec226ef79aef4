// ask_daemon_auth: HELLO + AUTH_QUERY out in one write, then LOG frames relayed until
// AUTH_REPLY. An auth check has no body and no response stream, so unlike
// forward_request this is a plain blocking exchange (each wait bounded by `timeout`).
#include "gantry/daemon_auth_client.hpp"

#include "gantry/frame_io.hpp"

namespace gantry {

DaemonAuthResult ask_daemon_auth(int fd, const protocol::Secret& secret, const AuthQuery& query,
                                 std::span<const EnvEntry> environ, std::chrono::milliseconds timeout,
                                 Logger& log) noexcept {
  DaemonAuthResult result;
  try {
    protocol::FrameWriter writer(fd);
    writer.append([&](std::string& out) {
      protocol::append_hello(out, secret);
      protocol::append_auth_query(out, query, environ);
    });
    writer.send_all(timeout);
    protocol::FrameReader reader(fd);
    for (;;) {
      const auto frame = reader.read(timeout);
      if (frame.header.type == protocol::FrameType::log) {
        const auto line = protocol::decode_log(frame.payload);
        log.log(line.level, line.message);
        continue;
      }
      if (frame.header.type != protocol::FrameType::auth_reply)
        throw protocol::ProtocolError(protocol::ProtocolError::Kind::unexpected_frame,
                                      "expected AUTH_REPLY or LOG, got " +
                                          protocol::frame_name(static_cast<std::uint8_t>(frame.header.type)));
      result.reply = protocol::decode_auth_reply(frame.payload);
      result.delivered = true;
      return result;
    }
  } catch (const protocol::ProtocolError& e) {
    result.detail = std::string("the daemon process broke the protocol: ") + e.what();
  } catch (const ChannelError& e) {
    result.detail = e.kind() == ChannelError::Kind::timeout
                        ? std::string("no answer within socket-timeout: ") + e.what()
                        : std::string("the daemon process hung up without answering: ") + e.what();
  } catch (const std::exception& e) {
    result.detail = std::string("internal error: ") + e.what();
  } catch (...) {
    result.detail = "internal error";
  }
  result.reply = AuthReply{};
  return result;
}

}  // namespace gantry
