// fuzz_environ_decoder: the binary environ of a REQUEST (and of an AUTH_QUERY), which a
// daemon process decodes from whatever reached its socket.
//
// Input: byte 0 picks the direction, the rest is the material.
//   even: the rest is a REQUEST payload as a peer could send it. If decode_request takes
//         it, append_request must give back the same payload (decode -> encode identity),
//         the decoded environ never holds more bytes than the payload, and an AUTH_QUERY
//         wrapping the same environ decodes to the same pairs.
//   odd:  the rest describes an environ (NUL-separated key, value, key, value, ...; the
//         low bits of byte 0 are the traits). encode -> decode must give it back equal.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/protocol.hpp"

using namespace gantry;
using namespace gantry::protocol;

namespace {

bool same_environ(const std::vector<EnvEntry>& a, const std::vector<EnvEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].value != b[i].value) return false;
  return true;
}

std::string_view payload_of(const std::string& frame) {
  return std::string_view(frame).substr(kHeaderSize);
}

// The same environ through the AUTH_QUERY encoding: the other decoder of environ pairs.
void check_auth_query(const std::vector<EnvEntry>& environ) {
  AuthQuery query;
  query.call = AuthCall::check_password;
  query.script_path = "/srv/auth.wsgi";
  query.user = "u";
  query.argument = "p";
  std::string frame;
  try {
    append_auth_query(frame, query, environ);
  } catch (const ProtocolError&) {
    return;  // over the frame limit: refused at encoding, as it should be
  }
  const AuthQueryMessage back = decode_auth_query(payload_of(frame));
  FUZZ_CHECK(same_environ(back.environ, environ), "AUTH_QUERY environ survives encode -> decode");
  FUZZ_CHECK(back.query.script_path == query.script_path && back.query.user == query.user &&
                 back.query.argument == query.argument && back.query.call == query.call,
             "AUTH_QUERY fields survive encode -> decode");
}

void decode_then_encode(std::string_view payload) {
  RequestMessage message;
  try {
    message = decode_request(payload);
  } catch (const ProtocolError&) {
    return;
  }
  std::size_t bytes = 0;
  for (const EnvEntry& entry : message.environ) bytes += 8 + entry.key.size() + entry.value.size();
  FUZZ_CHECK(8 + bytes == payload.size(), "a decoded environ accounts for every payload byte");
  std::string frame;
  append_request(frame, message.environ, message.traits);
  FUZZ_CHECK(payload_of(frame) == payload, "decode_request -> append_request gives the same payload");
  check_auth_query(message.environ);
}

void encode_then_decode(std::uint8_t bits, std::string_view text) {
  std::vector<EnvEntry> environ;
  bool key = true;
  while (true) {
    const std::size_t nul = text.find('\0');
    const std::string_view part = text.substr(0, nul);
    if (key) environ.push_back({std::string(part), {}});
    else environ.back().value = std::string(part);
    key = !key;
    if (nul == std::string_view::npos) break;
    text.remove_prefix(nul + 1);
  }
  const ServerTraits traits{(bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0};
  std::string frame;
  append_request(frame, environ, traits);
  const FrameHeader header = parse_header(frame.data());
  FUZZ_CHECK(header.type == FrameType::request && header.length == frame.size() - kHeaderSize,
             "append_request writes a header that announces its own payload");
  const RequestMessage back = decode_request(payload_of(frame));
  FUZZ_CHECK(same_environ(back.environ, environ), "REQUEST environ survives encode -> decode");
  FUZZ_CHECK(back.traits.multithread == traits.multithread && back.traits.multiprocess == traits.multiprocess &&
                 back.traits.run_once == traits.run_once,
             "REQUEST traits survive encode -> decode");
  check_auth_query(environ);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) decode_then_encode(rest);
  else encode_then_decode(data[0], rest);
  return 0;
}
