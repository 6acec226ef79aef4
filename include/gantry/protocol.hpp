#pragma once
// The wire protocol between an Apache child (the "forwarder") and a daemon process, over
// a connected SOCK_STREAM AF_UNIX socket. One request per connection. This header is
// the specification; docs/protocol.md has diagrams and the reasoning in prose.
//
// FRAMES. Every frame is an 8-byte header followed by `length` payload bytes. All
// integers are fixed-width little-endian.
//
//     offset 0  u8   type       FrameType below
//     offset 1  u8   flags      0 in version 1 (non-zero is rejected)
//     offset 2  u16  reserved   0 (non-zero is rejected)
//     offset 4  u32  length     payload bytes; checked against max_payload(type) BEFORE
//                               anything is allocated or read
//
// A receiver validates the header alone (known type, zero flags/reserved, length within
// the type's limit, exact length for fixed-size frames) and only then reads the payload,
// so an oversized or garbage header costs 8 bytes of reading and no allocation.
//
// CONVERSATION (A = Apache child / forwarder, D = daemon):
//
//     A->D  HELLO           first frame, exactly kHelloPayload bytes:
//                             u8[8] magic "GANTRY\r\n", u16 version, u16 reserved (0),
//                             u8[32] the per-generation secret
//     A->D  REQUEST         u8 traits (bit0 multithread, bit1 multiprocess, bit2 run_once),
//                             u8[3] reserved, u32 count, then count x
//                             (u32 key_len, u32 value_len, key bytes, value bytes)
//     D->A  READ_MORE       u32 credit: "you may send this many more body bytes"
//     A->D  BODY            raw body bytes, 1..kMaxChunk, never more than the credit left
//     A->D  BODY_END        (empty) the body is complete
//     A->D  ABORT           the body could not be read (u8 ChannelError::Kind, message);
//                             the daemon's read() raises it as the same ChannelError
//     D->A  RESPONSE_START  u32 status_len, status bytes ("200 OK"), u32 count, then count x
//                             (u32 name_len, u32 value_len, name, value)
//     D->A  DATA            raw response body bytes, 1..kMaxChunk
//     D->A  FILE            u64 offset, u64 length; the open file itself travels as
//                             SCM_RIGHTS ancillary data sent with (or before) these bytes
//     D->A  FLUSH           (empty) push what was written so far to the client
//     D->A  LOG             u8 level (gantry::Level), message bytes (<= kMaxLogMessage)
//     D->A  END             u8 outcome (gantry::Outcome); the last frame of a request
//     D->A  ABORT           the daemon gives up on the request (u8 kind, message)
//
// AN AUTH CHECK (version 2) is a conversation of its own: instead of REQUEST, A sends
//     A->D  AUTH_QUERY      u8 call (gantry::AuthCall), u8 flags (bit0 reload_on_change),
//                             u8[2] reserved (0), then 4 x (u32 len, bytes): script path,
//                             application group, user, argument (password / realm /
//                             host); then u32 count and count x (u32 key_len, u32 value_len,
//                             key, value): the environ the function gets
//     D->A  LOG             any number, as for a request (the script's wsgi.errors lines,
//                             its traceback)
//     D->A  AUTH_REPLY      u8 answer (gantry::AuthAnswer), u8[3] reserved (0), u32 count,
//                             count x (u32 len, bytes): the values (a user name, a hash,
//                             group names); the last frame
// It runs WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript with process-group=
// in a daemon group, so Apache's children need no Python for Apache-level auth.
//
// Order: A sends HELLO and REQUEST in one write, then only BODY/BODY_END/ABORT, and only
// against credit. D sends any of its frames in the order the application produces them;
// RESPONSE_START precedes DATA/FILE/FLUSH; LOG may come at any time; END comes last.
// After END either side closes. A hang-up without END is a failure, never a silent
// success: before RESPONSE_START the Apache child answers 502, after it the client
// connection is aborted.
//
// AUTHENTICATION. The daemon reads exactly the 8+44 HELLO bytes into a fixed buffer and
// checks the magic, the version and the secret (in constant time) before it allocates
// anything or reads on. The secret is random per server generation (made by the Apache
// parent, inherited by the children and daemons it forks), so a local process that can
// reach the socket path but is not part of this Apache generation is refused, and a
// child of an old generation cannot talk to a new daemon after a graceful restart.
//
// BODY FLOW CONTROL: credit, granted by the daemon. The forwarder never sends body bytes
// it was not granted. The daemon grants a window (kDefaultBodyWindow) on the
// application's first read() and tops it up whenever less than half of it is still in
// flight. Why this scheme:
//   - bounded memory on both sides whatever the body size: at most one window sits in the
//     socket and one frame in the daemon's read buffer; a 1 GiB upload never sits whole
//     anywhere;
//   - no deadlock when the application ignores the body and writes a big response: no
//     body is sent unless the application is reading it (mod_wsgi's eager push needs
//     receive-buffer-size tuning for exactly that case);
//   - the client is only read when the application asks, as in embedded mode, so
//     "100-continue" behaves the same in both modes;
//   - a window rather than one READ_MORE per read() keeps large uploads pipelined: about
//     one small READ_MORE frame per half window instead of a round trip per chunk.
// The response direction needs no credit: the forwarder reads from the daemon only as
// fast as the client takes the data, so the socket buffer is the back-pressure.
//
// CONNECTIONS. One connect per request, as mod_wsgi does: the listener's backlog is the
// queue that listen-backlog and queue-timeout describe, and any idle daemon process
// takes the next connection. A connect on an AF_UNIX socket costs microseconds, far less
// than the bookkeeping keep-alive would need (per-connection pools in every Apache child,
// liveness checks, and fairness between daemon processes).
//
// FEW SYSCALLS, FEW COPIES. Small frames are batched and go out in one sendmsg (the
// forwarder sends HELLO+REQUEST in one; the daemon sends RESPONSE_START and the first
// small DATA with the FLUSH that follows). Large writes are framed into kMaxChunk pieces
// sent with one sendmsg of many iovecs straight from the application's buffer: no copy on
// the sending side. Files are never read by the daemon: FILE passes the descriptor and
// the Apache child sendfile()s it. Readers recv into one reusable buffer sized for the
// largest chunk frame and hand out views into it.
//
// VERSIONING. kProtocolVersion is checked in HELLO; any change to a frame's layout bumps
// it. The daemon refuses a different version with a clear error; since Apache's parent
// forks both ends from the same module, a mismatch means a half-upgraded installation.
#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/auth_check.hpp"
#include "gantry/channel.hpp"
#include "gantry/log.hpp"

namespace gantry::protocol {

// 2: AUTH_QUERY / AUTH_REPLY.
inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr std::array<char, 8> kMagic = {'G', 'A', 'N', 'T', 'R', 'Y', '\r', '\n'};
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kSecretSize = 32;
inline constexpr std::size_t kHelloPayload = 8 + 2 + 2 + kSecretSize;  // 44
inline constexpr std::size_t kMaxChunk = 64 * 1024;             // BODY and DATA payloads
inline constexpr std::size_t kMaxFramePayload = 8 * 1024 * 1024;  // REQUEST, RESPONSE_START
inline constexpr std::size_t kMaxLogMessage = 64 * 1024;  // longer LOG messages are cut
inline constexpr std::uint32_t kDefaultBodyWindow = 256 * 1024;

using Secret = std::array<std::uint8_t, kSecretSize>;

enum class FrameType : std::uint8_t {
  hello = 1,
  request = 2,
  body = 3,
  body_end = 4,
  read_more = 5,
  response_start = 6,
  data = 7,
  file = 8,
  flush = 9,
  log = 10,
  end = 11,
  abort = 12,
  auth_query = 13,
  auth_reply = 14,
};

// "HELLO", "DATA", ... for messages; "type 77" for unknown values.
std::string frame_name(std::uint8_t type);

struct FrameHeader {
  FrameType type;
  std::uint32_t length;
};

// A frame or conversation that breaks this specification.
class ProtocolError : public std::runtime_error {
 public:
  enum class Kind {
    truncated,         // the connection or payload ended in the middle of something
    oversized,         // a length over the limit for its frame type
    bad_magic,         // the first bytes are not a Gantry HELLO
    bad_version,       // a HELLO from another protocol version
    bad_secret,        // a HELLO with the wrong secret
    unknown_type,      // a frame type this version does not define
    malformed,         // a payload whose fields do not add up, or non-zero reserved bits
    unexpected_frame,  // a valid frame at a point of the conversation where it is not allowed
    unexpected_descriptor,  // SCM_RIGHTS descriptors where no FILE frame asks for one
  };
  ProtocolError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Largest payload allowed for a frame type (exact size for fixed-size frames).
std::size_t max_payload(FrameType type);

// Header codec. parse_header validates everything the header alone can tell (see top).
void put_header(char* out, FrameType type, std::uint32_t length);
FrameHeader parse_header(const char* in);

// A fresh random secret (getrandom). Throws std::system_error if the kernel has none.
Secret generate_secret();
// Constant-time comparison, so timing does not reveal how much of a guess was right.
bool secrets_equal(const Secret& a, const Secret& b) noexcept;

// --- Encoders: each appends one complete frame (header + payload) to `out`. -----------

void append_hello(std::string& out, const Secret& secret);
void append_request(std::string& out, std::span<const EnvEntry> environ, ServerTraits traits);
void append_read_more(std::string& out, std::uint32_t credit);
void append_empty(std::string& out, FrameType type);  // BODY_END, FLUSH
void append_response_start(std::string& out, std::string_view status,
                           const std::vector<Header>& headers);
void append_file(std::string& out, std::uint64_t offset, std::uint64_t length);
void append_log(std::string& out, Level level, std::string_view message);  // cuts long ones
void append_end(std::string& out, Outcome outcome);
void append_abort(std::string& out, ChannelError::Kind kind, std::string_view message);
void append_auth_query(std::string& out, const AuthQuery& query, std::span<const EnvEntry> environ);
void append_auth_reply(std::string& out, const AuthReply& reply);

// --- Decoders: take a payload whose header was already validated. Views point into it. --

// Checks a whole HELLO frame (header included): magic, version, secret.
void check_hello(std::span<const char, kHeaderSize + kHelloPayload> frame, const Secret& secret);

struct RequestMessage {
  std::vector<EnvEntry> environ;
  ServerTraits traits;
};
RequestMessage decode_request(std::string_view payload);

std::uint32_t decode_read_more(std::string_view payload);

struct ResponseStart {
  std::string status;
  std::vector<Header> headers;
};
ResponseStart decode_response_start(std::string_view payload);

struct FileRange {
  std::uint64_t offset;
  std::uint64_t length;
};
FileRange decode_file(std::string_view payload);

struct LogMessage {
  Level level;
  std::string_view message;
};
LogMessage decode_log(std::string_view payload);

Outcome decode_end(std::string_view payload);

struct AbortMessage {
  ChannelError::Kind kind;
  std::string_view message;
};
AbortMessage decode_abort(std::string_view payload);

struct AuthQueryMessage {
  AuthQuery query;
  std::vector<EnvEntry> environ;
};
AuthQueryMessage decode_auth_query(std::string_view payload);
AuthReply decode_auth_reply(std::string_view payload);

}  // namespace gantry::protocol
