// Codec of the parent <-> spawner messages (specification in spawn_protocol.hpp). The
// spawner runs as root and decodes what arrives on its socket: every field is read through
// the bounds-checked Cursor, counts are checked against the bytes that remain.
#include "gantry/spawn_protocol.hpp"

#include <bit>
#include <cstring>

#include "wire_codec.hpp"

namespace gantry::spawn {

using protocol::ProtocolError;
using namespace protocol::wire;

namespace {

constexpr std::uint8_t kAllDescriptors =
    kFdListen | kFdTable | kFdHandover | kFdErrorLog | kFdPythonObject | kFdScoreboard | kFdControl;
constexpr std::size_t kMinString = 4;  // an empty string is its u32 length

void append_string(std::string& out, std::string_view s) {
  if (s.size() > kMaxLaunch)
    throw ProtocolError(ProtocolError::Kind::oversized,
                        "launch message field of " + std::to_string(s.size()) + " bytes");
  append_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void append_strings(std::string& out, const std::vector<std::string>& list) {
  append_u32(out, static_cast<std::uint32_t>(list.size()));
  for (const auto& s : list) append_string(out, s);
}

std::string read_string(Cursor& in) {
  const std::uint32_t n = in.u32();
  return std::string(in.bytes(n));
}

std::vector<std::string> read_strings(Cursor& in, const char* what) {
  std::vector<std::string> list(checked_count(in, kMinString, what));
  for (auto& s : list) s = read_string(in);
  return list;
}

bool read_flag(Cursor& in, const char* what) {
  const std::uint8_t v = in.u8();
  if (v > 1)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        std::string("launch message: ") + what + " is " + std::to_string(v) +
                            ", not 0 or 1");
  return v != 0;
}

void check_head(Cursor& in, const char* what) {
  if (in.u32() != kMagic)
    throw ProtocolError(ProtocolError::Kind::bad_magic, std::string(what) + " has no spawner magic");
  const std::uint16_t version = in.u16();
  if (version != kVersion)
    throw ProtocolError(ProtocolError::Kind::bad_version,
                        std::string(what) + " is version " + std::to_string(version) +
                            ", this build speaks " + std::to_string(kVersion));
}

}  // namespace

std::size_t LaunchRequest::descriptor_count() const {
  return static_cast<std::size_t>(std::popcount(static_cast<unsigned>(descriptors)));
}

std::string encode_launch(const LaunchRequest& r) {
  std::string out;
  // The largest message there can be, at once: growing would free buffers that hold the
  // secret without wiping them (the caller wipes the one it gets).
  out.reserve(kMaxLaunch + 1);
  append_u32(out, kMagic);
  append_u16(out, kVersion);
  append_u16(out, kKindLaunch);
  append_u32(out, r.generation);
  append_u32(out, r.process_index);
  append_u32(out, r.cell);
  append_u8(out, r.standby ? 1 : 0);
  append_u8(out, r.keeps_standby ? 1 : 0);
  append_u32(out, r.delay_seconds);
  append_u32(out, r.exit_record);
  append_u32(out, r.handover_slot);
  append_u32(out, r.log_level);
  append_u8(out, r.core_dumps ? 1 : 0);
  append_string(out, r.group);
  append_strings(out, r.option_words);
  const LaunchIdentity& id = r.identity;
  append_u8(out, id.switch_user ? 1 : 0);
  append_u32(out, id.uid);
  append_u32(out, id.gid);
  append_string(out, id.user_name);
  append_string(out, id.home);
  append_u8(out, id.home_given ? 1 : 0);
  append_u32(out, static_cast<std::uint32_t>(id.extra_groups.size()));
  for (std::uint32_t g : id.extra_groups) append_u32(out, g);
  const LaunchPython& py = r.python;
  append_string(out, py.python_home);
  append_strings(out, py.python_path);
  append_u32(out, py.optimize);
  append_u8(out, static_cast<std::uint8_t>((py.restrict_stdin ? 1 : 0) | (py.restrict_stdout ? 2 : 0) |
                                           (py.restrict_signal ? 4 : 0) | (py.dont_write_bytecode ? 8 : 0) |
                                           (py.destroy_interpreter ? 16 : 0)));
  append_u64(out, static_cast<std::uint64_t>(py.hash_seed));
  append_strings(out, py.warn_options);
  append_u32(out, static_cast<std::uint32_t>(r.preload.size()));
  for (const auto& p : r.preload) {
    append_string(out, p.script);
    append_string(out, p.application_group);
    append_string(out, p.callable);
  }
  append_string(out, r.server.apache_version);
  append_string(out, r.server.description);
  append_string(out, r.server.build_date);
  append_string(out, r.server.mpm_name);
  append_u32(out, r.server.mpm_processes);
  append_u32(out, r.server.mpm_threads);
  append_u64(out, r.socket_timeout_ms);
  out.append(reinterpret_cast<const char*>(r.secret.data()), r.secret.size());
  append_string(out, r.python_object);
  append_string(out, r.build);
  append_u8(out, static_cast<std::uint8_t>(r.role));
  if (r.descriptors & ~kAllDescriptors)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: unknown descriptor bits");
  append_u8(out, r.descriptors);
  if (out.size() > kMaxLaunch)
    throw ProtocolError(ProtocolError::Kind::oversized,
                        "launch message would be " + std::to_string(out.size()) +
                            " bytes, more than the limit of " + std::to_string(kMaxLaunch));
  return out;
}

LaunchRequest decode_launch(std::string_view message) {
  if (message.size() > kMaxLaunch)
    throw ProtocolError(ProtocolError::Kind::oversized,
                        "launch message of " + std::to_string(message.size()) + " bytes");
  Cursor in(message, "launch message");
  check_head(in, "launch message");
  if (const std::uint16_t kind = in.u16(); kind != kKindLaunch)
    throw ProtocolError(ProtocolError::Kind::unknown_type,
                        "spawner message kind " + std::to_string(kind));
  LaunchRequest r;
  r.generation = in.u32();
  r.process_index = in.u32();
  r.cell = in.u32();
  r.standby = read_flag(in, "standby");
  r.keeps_standby = read_flag(in, "keeps_standby");
  r.delay_seconds = in.u32();
  r.exit_record = in.u32();
  r.handover_slot = in.u32();
  r.log_level = in.u32();
  r.core_dumps = read_flag(in, "core_dumps");
  r.group = read_string(in);
  r.option_words = read_strings(in, "option words");
  LaunchIdentity& id = r.identity;
  id.switch_user = read_flag(in, "switch_user");
  id.uid = in.u32();
  id.gid = in.u32();
  id.user_name = read_string(in);
  id.home = read_string(in);
  id.home_given = read_flag(in, "home_given");
  id.extra_groups.resize(checked_count(in, 4, "supplementary groups"));
  for (auto& g : id.extra_groups) g = in.u32();
  LaunchPython& py = r.python;
  py.python_home = read_string(in);
  py.python_path = read_strings(in, "python-path");
  py.optimize = in.u32();
  const std::uint8_t python_bits = in.u8();
  if (python_bits & ~31u)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: unknown Python flag bits");
  py.restrict_stdin = python_bits & 1;
  py.restrict_stdout = python_bits & 2;
  py.restrict_signal = python_bits & 4;
  py.dont_write_bytecode = python_bits & 8;
  py.destroy_interpreter = python_bits & 16;
  py.hash_seed = static_cast<std::int64_t>(in.u64());
  py.warn_options = read_strings(in, "Python warning options");
  r.preload.resize(checked_count(in, 3 * kMinString, "preload scripts"));
  for (auto& p : r.preload) {
    p.script = read_string(in);
    p.application_group = read_string(in);
    p.callable = read_string(in);
  }
  r.server.apache_version = read_string(in);
  r.server.description = read_string(in);
  r.server.build_date = read_string(in);
  r.server.mpm_name = read_string(in);
  r.server.mpm_processes = in.u32();
  r.server.mpm_threads = in.u32();
  r.socket_timeout_ms = in.u64();
  const std::string_view secret = in.bytes(r.secret.size());
  std::memcpy(r.secret.data(), secret.data(), secret.size());
  r.python_object = read_string(in);
  r.build = read_string(in);
  const std::uint8_t role = in.u8();
  if (role > static_cast<std::uint8_t>(LaunchRole::template_))
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: unknown role " + std::to_string(role));
  r.role = static_cast<LaunchRole>(role);
  r.descriptors = in.u8();
  if (r.descriptors & ~kAllDescriptors)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: unknown descriptor bits");
  if (r.handover_slot == kNoHandover ? (r.descriptors & kFdHandover) != 0 : (r.descriptors & kFdHandover) == 0)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "launch message: a hand-over slot needs the hand-over page, and only then");
  if (r.standby && !r.keeps_standby)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: a spare in a slot without one");
  if (r.keeps_standby && r.handover_slot == kNoHandover)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: a spare needs a hand-over slot");
  if (r.cell > 1)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: cell " + std::to_string(r.cell));
  const bool is_template = r.role == LaunchRole::template_;
  if (is_template != ((r.descriptors & kFdControl) != 0))
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "launch message: a template needs its control socket, and only a template has one");
  if (is_template && r.standby)
    throw ProtocolError(ProtocolError::Kind::malformed, "launch message: a template is not a spare");
  in.expect_end();
  return r;
}

std::array<char, kReplySize> encode_reply(const SpawnReply& reply) {
  std::array<char, kReplySize> out{};
  put_u32(out.data(), kMagic);
  put_u16(out.data() + 4, kVersion);
  put_u16(out.data() + 6, static_cast<std::uint16_t>(reply.status));
  put_u32(out.data() + 8, static_cast<std::uint32_t>(reply.pid));
  put_u32(out.data() + 12, static_cast<std::uint32_t>(reply.error));
  return out;
}

SpawnReply decode_reply(std::string_view bytes) {
  if (bytes.size() != kReplySize)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "spawner reply of " + std::to_string(bytes.size()) + " bytes, expected " +
                            std::to_string(kReplySize));
  Cursor in(bytes, "spawner reply");
  check_head(in, "spawner reply");
  SpawnReply reply;
  const std::uint16_t status = in.u16();
  if (status > static_cast<std::uint16_t>(SpawnStatus::ready))
    throw ProtocolError(ProtocolError::Kind::malformed, "spawner reply status " + std::to_string(status));
  reply.status = static_cast<SpawnStatus>(status);
  reply.pid = static_cast<std::int32_t>(in.u32());
  reply.error = static_cast<std::int32_t>(in.u32());
  if ((reply.status == SpawnStatus::started || reply.status == SpawnStatus::ready) && reply.pid <= 0)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        "spawner reply: started, with pid " + std::to_string(reply.pid));
  return reply;
}

const char* describe(SpawnStatus status) {
  switch (status) {
    case SpawnStatus::started: return "started";
    case SpawnStatus::clone_failed: return "clone() failed";
    case SpawnStatus::malformed: return "the launch message did not decode";
    case SpawnStatus::bad_version: return "the spawner is from another build";
    case SpawnStatus::descriptors: return "the descriptors did not arrive as announced";
    case SpawnStatus::ready: return "the template is ready";
  }
  return "unknown status";
}

}  // namespace gantry::spawn
