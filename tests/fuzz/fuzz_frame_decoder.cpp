// fuzz_frame_decoder: the frame layer both ends of the daemon protocol read with
// (protocol::parse_header, the per-type payload decoders, FrameReader's buffering).
//
// Input: byte 0 picks how the stream is cut into writes (so FrameReader sees frames split
// at every possible point), the rest is the byte stream a peer sends.
// Properties, beyond "no crash, no sanitizer report":
//   1. FrameReader over a real socketpair yields exactly the frames (type and payload) a
//      plain in-memory reference walk of the stream yields, and ends the same way (clean
//      close at a frame boundary, or a ProtocolError);
//   2. every payload a decoder accepts re-encodes to the very bytes it came from
//      (decode -> encode round trip: one encoding per message, nothing ignored).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/frame_io.hpp"
#include "gantry/protocol.hpp"

using namespace gantry;
using namespace gantry::protocol;

namespace {

struct RefFrame {
  std::uint8_t type;
  std::string payload;
};

// The reference: headers checked by parse_header, payloads cut out of the buffer.
// `error`: the stream breaks the protocol (bad header, or it ends inside a frame).
std::vector<RefFrame> reference_walk(std::string_view stream, bool& error) {
  std::vector<RefFrame> frames;
  error = false;
  while (!stream.empty()) {
    if (stream.size() < kHeaderSize) {
      error = true;
      break;
    }
    FrameHeader header;
    try {
      header = parse_header(stream.data());
    } catch (const ProtocolError&) {
      error = true;
      break;
    }
    if (stream.size() - kHeaderSize < header.length) {
      error = true;
      break;
    }
    frames.push_back({static_cast<std::uint8_t>(header.type),
                      std::string(stream.substr(kHeaderSize, header.length))});
    stream.remove_prefix(kHeaderSize + header.length);
  }
  return frames;
}

// Decodes `payload` as its type says; if that succeeds, encodes the result again and
// checks it is the same frame, byte for byte.
void check_round_trip(FrameType type, std::string_view payload) {
  std::string original(kHeaderSize, '\0');
  put_header(original.data(), type, static_cast<std::uint32_t>(payload.size()));
  original.append(payload);
  std::string again;
  try {
    switch (type) {
      case FrameType::hello: {
        // check_hello wants the secret the frame carries: round trip through that secret.
        Secret secret{};
        std::memcpy(secret.data(), payload.data() + 12, kSecretSize);
        check_hello(std::span<const char, kHeaderSize + kHelloPayload>(original.data(), kHeaderSize + kHelloPayload),
                    secret);
        append_hello(again, secret);
        break;
      }
      case FrameType::request: {
        const RequestMessage message = decode_request(payload);
        append_request(again, message.environ, message.traits);
        break;
      }
      case FrameType::body:
      case FrameType::data:
        return;  // raw bytes, nothing to decode
      case FrameType::body_end:
      case FrameType::flush:
        append_empty(again, type);
        break;
      case FrameType::read_more:
        append_read_more(again, decode_read_more(payload));
        break;
      case FrameType::response_start: {
        const ResponseStart response = decode_response_start(payload);
        append_response_start(again, response.status, response.headers);
        break;
      }
      case FrameType::file: {
        const FileRange range = decode_file(payload);
        FUZZ_CHECK(range.offset <= INT64_MAX && range.length <= INT64_MAX - range.offset,
                   "a FILE range the decoder accepts fits in off_t");
        append_file(again, range.offset, range.length);
        break;
      }
      case FrameType::log: {
        const LogMessage line = decode_log(payload);
        append_log(again, line.level, line.message);
        break;
      }
      case FrameType::end:
        append_end(again, decode_end(payload));
        break;
      case FrameType::abort: {
        const AbortMessage abort = decode_abort(payload);
        append_abort(again, abort.kind, abort.message);
        break;
      }
      case FrameType::auth_query: {
        const AuthQueryMessage message = decode_auth_query(payload);
        append_auth_query(again, message.query, message.environ);
        break;
      }
      case FrameType::auth_reply:
        append_auth_reply(again, decode_auth_reply(payload));
        break;
    }
  } catch (const ProtocolError&) {
    return;  // rejected: fine, as long as nothing above misbehaved
  }
  FUZZ_CHECK(again == original, "a decoded frame re-encodes to the bytes it was decoded from");
}

// Feeds `stream` to a FrameReader through a socketpair, in writes cut by `cut_seed`.
std::vector<RefFrame> read_through_socket(std::string_view stream, std::uint8_t cut_seed, bool& error) {
  std::vector<RefFrame> frames;
  error = false;
  int pair[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0, "socketpair");
  {
    FrameReader reader(pair[0]);
    std::size_t sent = 0;
    const std::size_t step = 1 + (cut_seed & 0x7f) * 37;  // 1 byte .. ~4.7 KB per write
    bool shut = false;
    while (true) {
      if (sent < stream.size()) {
        const std::size_t n = std::min(step, stream.size() - sent);
        const ssize_t w = ::send(pair[1], stream.data() + sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) sent += static_cast<std::size_t>(w);
      } else if (!shut) {
        ::shutdown(pair[1], SHUT_WR);
        shut = true;
      }
      FrameReader::Result result;
      try {
        // Drain what is there (the socket buffer must not stay full).
        do {
          result = reader.try_read();
          if (result.status == FrameReader::Status::frame)
            frames.push_back({static_cast<std::uint8_t>(result.frame.header.type),
                              std::string(result.frame.payload)});
        } while (result.status == FrameReader::Status::frame);
      } catch (const ProtocolError&) {
        error = true;
        break;
      }
      if (result.status == FrameReader::Status::closed) break;
      FUZZ_CHECK(!(shut && result.status == FrameReader::Status::would_block),
                 "a reader whose peer has shut down never waits");
    }
  }
  ::close(pair[0]);
  ::close(pair[1]);
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t cut_seed = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  bool ref_error = false;
  const std::vector<RefFrame> expected = reference_walk(stream, ref_error);
  for (const RefFrame& frame : expected) check_round_trip(static_cast<FrameType>(frame.type), frame.payload);

  bool error = false;
  const std::vector<RefFrame> got = read_through_socket(stream, cut_seed, error);
  FUZZ_CHECK(error == ref_error, "FrameReader fails exactly when the stream breaks the protocol");
  FUZZ_CHECK(got.size() == expected.size(), "FrameReader yields as many frames as the reference");
  for (std::size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(got[i].type == expected[i].type, "frame types agree with the reference");
    FUZZ_CHECK(got[i].payload == expected[i].payload, "frame payloads agree with the reference");
  }
  return 0;
}
