// Frame codec of the Apache child <-> daemon protocol (specification in protocol.hpp).
// Every decoder reads through a bounds-checked Cursor: a lying length field yields a
// ProtocolError, never a read past the payload or an allocation it did not pay for.
#include "gantry/protocol.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "wire_codec.hpp"

namespace gantry::protocol {

using namespace wire;

namespace {

constexpr std::size_t kMaxFrameType = static_cast<std::size_t>(FrameType::auth_reply);

// Appends a header with a placeholder length; returns where it starts.
std::size_t begin_frame(std::string& out, FrameType type) {
  const std::size_t at = out.size();
  out.resize(at + kHeaderSize);
  put_header(out.data() + at, type, 0);
  return at;
}

// Fills in the length once the payload is appended; refuses frames over the type's limit.
void end_frame(std::string& out, std::size_t at, FrameType type) {
  const std::size_t length = out.size() - at - kHeaderSize;
  if (length > max_payload(type)) {
    out.resize(at);
    throw ProtocolError(ProtocolError::Kind::oversized,
                        frame_name(static_cast<std::uint8_t>(type)) + " frame would be " +
                            std::to_string(length) + " bytes, more than the limit of " +
                            std::to_string(max_payload(type)));
  }
  put_u32(out.data() + at + 4, static_cast<std::uint32_t>(length));
}

void append_pair(std::string& out, std::string_view a, std::string_view b) {
  // Lengths are checked against the frame limit by end_frame; a pair this big can
  // never fit, so the casts below never wrap in a frame that is actually sent.
  append_u32(out, static_cast<std::uint32_t>(std::min<std::size_t>(a.size(), UINT32_MAX)));
  append_u32(out, static_cast<std::uint32_t>(std::min<std::size_t>(b.size(), UINT32_MAX)));
  out.append(a);
  out.append(b);
}

// Reads `count` (u32 len, u32 len, bytes, bytes) pairs into EnvEntry/Header records.
template <class Pair>
void read_pairs(Cursor& in, std::size_t count, std::vector<Pair>& out) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t first_length = in.u32();
    const std::uint32_t second_length = in.u32();
    const std::string_view first = in.bytes(first_length);
    const std::string_view second = in.bytes(second_length);
    out.push_back({std::string(first), std::string(second)});
  }
}

}  // namespace

std::string frame_name(std::uint8_t type) {
  static constexpr const char* kNames[] = {
      nullptr, "HELLO", "REQUEST", "BODY", "BODY_END", "READ_MORE", "RESPONSE_START",
      "DATA", "FILE", "FLUSH", "LOG", "END", "ABORT", "AUTH_QUERY", "AUTH_REPLY"};
  if (type >= 1 && type <= kMaxFrameType) return kNames[type];
  return "type " + std::to_string(type);
}

std::size_t max_payload(FrameType type) {
  switch (type) {
    case FrameType::hello: return kHelloPayload;
    case FrameType::request: return kMaxFramePayload;
    case FrameType::body: return kMaxChunk;
    case FrameType::body_end: return 0;
    case FrameType::read_more: return 4;
    case FrameType::response_start: return kMaxFramePayload;
    case FrameType::data: return kMaxChunk;
    case FrameType::file: return 16;
    case FrameType::flush: return 0;
    case FrameType::log: return 1 + kMaxLogMessage;
    case FrameType::end: return 1;
    case FrameType::abort: return 1 + kMaxLogMessage;
    case FrameType::auth_query: return kMaxFramePayload;
    case FrameType::auth_reply: return kMaxFramePayload;
  }
  return 0;
}

void put_header(char* out, FrameType type, std::uint32_t length) {
  out[0] = static_cast<char>(type);
  out[1] = 0;
  put_u16(out + 2, 0);
  put_u32(out + 4, length);
}

FrameHeader parse_header(const char* in) {
  const auto raw_type = static_cast<std::uint8_t>(in[0]);
  if (raw_type < 1 || raw_type > kMaxFrameType)
    throw ProtocolError(ProtocolError::Kind::unknown_type,
                        "unknown frame " + frame_name(raw_type) + " (protocol version " +
                            std::to_string(kProtocolVersion) + " defines types 1 to " +
                            std::to_string(kMaxFrameType) + ")");
  const auto type = static_cast<FrameType>(raw_type);
  if (in[1] != 0 || get_u16(in + 2) != 0)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        frame_name(raw_type) + " frame has non-zero flags or reserved bits");
  const std::uint32_t length = get_u32(in + 4);
  const std::size_t limit = max_payload(type);
  if (length > limit)
    throw ProtocolError(ProtocolError::Kind::oversized,
                        frame_name(raw_type) + " frame announces " + std::to_string(length) +
                            " payload bytes, more than its limit of " + std::to_string(limit));
  const bool fixed = type == FrameType::hello || type == FrameType::read_more ||
                     type == FrameType::file || type == FrameType::end;
  if (fixed && length != limit)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        frame_name(raw_type) + " frame must have exactly " +
                            std::to_string(limit) + " payload bytes, not " +
                            std::to_string(length));
  return {type, length};
}

Secret generate_secret() {
  Secret secret;
  std::size_t filled = 0;
  while (filled < secret.size()) {
    const ssize_t n = getrandom(secret.data() + filled, secret.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<std::size_t>(n);
  }
  return secret;
}

bool secrets_equal(const Secret& a, const Secret& b) noexcept {
  unsigned difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned>(a[i] ^ b[i]);
  return difference == 0;
}

void append_hello(std::string& out, const Secret& secret) {
  const std::size_t at = begin_frame(out, FrameType::hello);
  out.append(kMagic.data(), kMagic.size());
  char version[4];
  put_u16(version, kProtocolVersion);
  put_u16(version + 2, 0);
  out.append(version, 4);
  out.append(reinterpret_cast<const char*>(secret.data()), secret.size());
  end_frame(out, at, FrameType::hello);
}

void check_hello(std::span<const char, kHeaderSize + kHelloPayload> frame, const Secret& secret) {
  // Magic first: a peer that is not Gantry at all gets the most useful message.
  if (std::memcmp(frame.data() + kHeaderSize, kMagic.data(), kMagic.size()) != 0)
    throw ProtocolError(ProtocolError::Kind::bad_magic,
                        "the peer did not start with a Gantry HELLO (wrong magic bytes)");
  const FrameHeader header = parse_header(frame.data());
  if (header.type != FrameType::hello)
    throw ProtocolError(ProtocolError::Kind::unexpected_frame,
                        "the first frame must be HELLO, not " +
                            frame_name(static_cast<std::uint8_t>(header.type)));
  const char* payload = frame.data() + kHeaderSize + kMagic.size();
  const std::uint16_t version = get_u16(payload);
  if (version != kProtocolVersion)
    throw ProtocolError(ProtocolError::Kind::bad_version,
                        "the peer speaks protocol version " + std::to_string(version) +
                            ", this side speaks version " + std::to_string(kProtocolVersion) +
                            " (mod_gantry.so and mod_gantry_python.so from different builds?)");
  if (get_u16(payload + 2) != 0)
    throw ProtocolError(ProtocolError::Kind::malformed, "HELLO has non-zero reserved bits");
  Secret offered;
  std::memcpy(offered.data(), payload + 4, offered.size());
  if (!secrets_equal(offered, secret))
    throw ProtocolError(ProtocolError::Kind::bad_secret,
                        "the peer's HELLO carries the wrong secret (a process from another "
                        "server generation, or not started by this Apache)");
}

void append_request(std::string& out, std::span<const EnvEntry> environ, ServerTraits traits) {
  // Sized once and written in place: the REQUEST of every daemon-mode request carries
  // ~45 pairs, and four bounds-checked appends per pair (plus the reallocations) cost
  // more than the encoding itself.
  std::size_t payload = 8;
  for (const auto& entry : environ) payload += 8 + entry.key.size() + entry.value.size();
  if (payload > max_payload(FrameType::request))
    throw ProtocolError(ProtocolError::Kind::oversized,
                        frame_name(static_cast<std::uint8_t>(FrameType::request)) +
                            " frame would be " + std::to_string(payload) +
                            " bytes, more than the limit of " +
                            std::to_string(max_payload(FrameType::request)));
  const std::size_t at = out.size();
  out.resize(at + kHeaderSize + payload);
  char* p = out.data() + at;
  put_header(p, FrameType::request, static_cast<std::uint32_t>(payload));
  p += kHeaderSize;
  p[0] = static_cast<char>((traits.multithread ? 1 : 0) | (traits.multiprocess ? 2 : 0) |
                           (traits.run_once ? 4 : 0));
  p[1] = p[2] = p[3] = '\0';
  put_u32(p + 4, static_cast<std::uint32_t>(environ.size()));
  p += 8;
  for (const auto& entry : environ) {
    put_u32(p, static_cast<std::uint32_t>(entry.key.size()));
    put_u32(p + 4, static_cast<std::uint32_t>(entry.value.size()));
    p += 8;
    std::memcpy(p, entry.key.data(), entry.key.size());
    p += entry.key.size();
    std::memcpy(p, entry.value.data(), entry.value.size());
    p += entry.value.size();
  }
}

RequestMessage decode_request(std::string_view payload) {
  Cursor in(payload, "REQUEST");
  RequestMessage message;
  const std::uint8_t bits = in.u8();
  const std::string_view reserved = in.bytes(3);
  if ((bits & ~7u) != 0 || reserved != std::string_view("\0\0\0", 3))
    throw ProtocolError(ProtocolError::Kind::malformed, "REQUEST has unknown trait bits");
  message.traits.multithread = (bits & 1) != 0;
  message.traits.multiprocess = (bits & 2) != 0;
  message.traits.run_once = (bits & 4) != 0;
  const std::size_t count = checked_count(in, 8, "REQUEST environ");
  message.environ.reserve(count + 4);  // + room for what the daemon adds (add_environ)
  read_pairs(in, count, message.environ);
  in.expect_end();
  return message;
}

void append_read_more(std::string& out, std::uint32_t credit) {
  const std::size_t at = begin_frame(out, FrameType::read_more);
  append_u32(out, credit);
  end_frame(out, at, FrameType::read_more);
}

std::uint32_t decode_read_more(std::string_view payload) {
  Cursor in(payload, "READ_MORE");
  const std::uint32_t credit = in.u32();
  in.expect_end();
  return credit;
}

void append_empty(std::string& out, FrameType type) {
  const std::size_t at = begin_frame(out, type);
  end_frame(out, at, type);
}

void append_response_start(std::string& out, std::string_view status,
                           const std::vector<Header>& headers) {
  const std::size_t at = begin_frame(out, FrameType::response_start);
  append_u32(out, static_cast<std::uint32_t>(std::min<std::size_t>(status.size(), UINT32_MAX)));
  out.append(status);
  append_u32(out, static_cast<std::uint32_t>(headers.size()));
  for (const auto& header : headers) append_pair(out, header.name, header.value);
  end_frame(out, at, FrameType::response_start);
}

ResponseStart decode_response_start(std::string_view payload) {
  Cursor in(payload, "RESPONSE_START");
  ResponseStart response;
  response.status = std::string(in.bytes(in.u32()));
  const std::size_t count = checked_count(in, 8, "RESPONSE_START headers");
  response.headers.reserve(count);
  read_pairs(in, count, response.headers);
  in.expect_end();
  return response;
}

void append_file(std::string& out, std::uint64_t offset, std::uint64_t length) {
  const std::size_t at = begin_frame(out, FrameType::file);
  append_u64(out, offset);
  append_u64(out, length);
  end_frame(out, at, FrameType::file);
}

FileRange decode_file(std::string_view payload) {
  Cursor in(payload, "FILE");
  FileRange range{in.u64(), in.u64()};
  in.expect_end();
  if (range.offset > INT64_MAX || range.length > INT64_MAX - range.offset)
    throw ProtocolError(ProtocolError::Kind::malformed, "FILE range overflows a file offset");
  return range;
}

void append_log(std::string& out, Level level, std::string_view message) {
  const std::size_t at = begin_frame(out, FrameType::log);
  append_u8(out, static_cast<std::uint8_t>(level));
  out.append(message.substr(0, kMaxLogMessage));
  end_frame(out, at, FrameType::log);
}

LogMessage decode_log(std::string_view payload) {
  Cursor in(payload, "LOG");
  const std::uint8_t level = in.u8();
  if (level > static_cast<std::uint8_t>(Level::debug))
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "LOG level " + std::to_string(level) + " is not 0 (emerg) to 7 (debug)");
  return {static_cast<Level>(level), in.rest()};
}

void append_end(std::string& out, Outcome outcome) {
  const std::size_t at = begin_frame(out, FrameType::end);
  append_u8(out, static_cast<std::uint8_t>(outcome));
  end_frame(out, at, FrameType::end);
}

Outcome decode_end(std::string_view payload) {
  Cursor in(payload, "END");
  const std::uint8_t outcome = in.u8();
  in.expect_end();
  if (outcome > static_cast<std::uint8_t>(Outcome::aborted))
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "END carries unknown outcome " + std::to_string(outcome));
  return static_cast<Outcome>(outcome);
}

void append_abort(std::string& out, ChannelError::Kind kind, std::string_view message) {
  const std::size_t at = begin_frame(out, FrameType::abort);
  append_u8(out, static_cast<std::uint8_t>(kind));
  out.append(message.substr(0, kMaxLogMessage));
  end_frame(out, at, FrameType::abort);
}

AbortMessage decode_abort(std::string_view payload) {
  Cursor in(payload, "ABORT");
  const std::uint8_t kind = in.u8();
  if (kind > static_cast<std::uint8_t>(ChannelError::Kind::internal))
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "ABORT carries unknown kind " + std::to_string(kind));
  return {static_cast<ChannelError::Kind>(kind), in.rest()};
}

// ---- AUTH_QUERY / AUTH_REPLY ------------------------------------------------------------

namespace {

void append_string(std::string& out, std::string_view text) {
  append_u32(out, static_cast<std::uint32_t>(std::min<std::size_t>(text.size(), UINT32_MAX)));
  out.append(text);
}

std::string_view take_string(Cursor& in) { return in.bytes(in.u32()); }

}  // namespace

void append_auth_query(std::string& out, const AuthQuery& query, std::span<const EnvEntry> environ) {
  const std::size_t at = begin_frame(out, FrameType::auth_query);
  append_u8(out, static_cast<std::uint8_t>(query.call));
  append_u8(out, query.reload_on_change ? 1 : 0);
  append_u8(out, 0);
  append_u8(out, 0);
  for (std::string_view text : {std::string_view(query.script_path), std::string_view(query.application_group),
                                std::string_view(query.user), std::string_view(query.argument)})
    append_string(out, text);
  append_u32(out, static_cast<std::uint32_t>(environ.size()));
  for (const EnvEntry& entry : environ) append_pair(out, entry.key, entry.value);
  end_frame(out, at, FrameType::auth_query);
}

AuthQueryMessage decode_auth_query(std::string_view payload) {
  Cursor in(payload, "AUTH_QUERY");
  AuthQueryMessage message;
  const std::uint8_t call = in.u8();
  const std::uint8_t flags = in.u8();
  if (call < static_cast<std::uint8_t>(AuthCall::allow_access) ||
      call > static_cast<std::uint8_t>(AuthCall::groups_for_user))
    throw ProtocolError(ProtocolError::Kind::malformed, "AUTH_QUERY names unknown call " + std::to_string(call));
  if ((flags & ~1u) != 0 || in.bytes(2) != std::string_view("\0\0", 2))
    throw ProtocolError(ProtocolError::Kind::malformed, "AUTH_QUERY has unknown flag or reserved bits");
  message.query.call = static_cast<AuthCall>(call);
  message.query.reload_on_change = (flags & 1) != 0;
  message.query.script_path = take_string(in);
  message.query.application_group = take_string(in);
  message.query.user = take_string(in);
  message.query.argument = take_string(in);
  const std::size_t count = checked_count(in, 8, "AUTH_QUERY environ");
  message.environ.reserve(count);
  read_pairs(in, count, message.environ);
  in.expect_end();
  return message;
}

void append_auth_reply(std::string& out, const AuthReply& reply) {
  const std::size_t at = begin_frame(out, FrameType::auth_reply);
  append_u8(out, static_cast<std::uint8_t>(reply.answer));
  append_u8(out, 0);
  append_u8(out, 0);
  append_u8(out, 0);
  append_u32(out, static_cast<std::uint32_t>(reply.values.size()));
  for (const std::string& value : reply.values) append_string(out, value);
  end_frame(out, at, FrameType::auth_reply);
}

AuthReply decode_auth_reply(std::string_view payload) {
  Cursor in(payload, "AUTH_REPLY");
  AuthReply reply;
  const std::uint8_t answer = in.u8();
  if (answer > static_cast<std::uint8_t>(AuthAnswer::error) || in.bytes(3) != std::string_view("\0\0\0", 3))
    throw ProtocolError(ProtocolError::Kind::malformed, "AUTH_REPLY has an unknown answer or reserved bits");
  reply.answer = static_cast<AuthAnswer>(answer);
  const std::size_t count = checked_count(in, 4, "AUTH_REPLY values");
  reply.values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) reply.values.emplace_back(take_string(in));
  in.expect_end();
  return reply;
}

}  // namespace gantry::protocol
