#pragma once
// The conversation between Apache's parent and the daemon spawner (docs/spawner.md): one
// LAUNCH message per daemon process, one REPLY naming the pid (or why not), over a
// SOCK_SEQPACKET socketpair, so each message is one datagram and its descriptors
// (SCM_RIGHTS) arrive with it, atomically.
//
// Why a message at all: the spawner was forked once, at the first start, and holds that
// generation's memory. Everything a daemon process must run from - the group's options as
// written, its resolved identity, its Python settings, the secret, the current descriptors -
// comes with each launch, so a daemon started after any number of graceful restarts runs
// the configuration of the generation that asked for it, never the spawner's stale copy.
//
// LAUNCH (parent -> spawner), all integers little-endian, strings u32 length + bytes:
//
//     u32 magic "GSPW", u16 version, u16 kind (1 = launch)
//     u32 generation, u32 process_index, u32 cell, u8 standby, u8 keeps_standby,
//     u32 delay_seconds,
//     u32 exit_record, u32 handover_slot (kNoHandover: none), u32 log_level, u8 core_dumps,
//     string group, u32 count + count x string option_words,
//     identity: u8 switch_user, u32 uid, u32 gid, string user_name, string home,
//               u8 home_given, u32 count + count x u32 extra_groups
//     python:   string python_home, u32 count + count x string python_path, u32 optimize,
//               u8 flags (bit0 restrict stdin, bit1 restrict stdout, bit2 restrict signal,
//               bit3 dont_write_bytecode, bit4 destroy_interpreter), u64 hash_seed (two's
//               complement; -1 = random), u32 count + count x string warn_options
//     u32 count + count x (string script, string application_group, string callable)
//     server:   string apache_version, string description, string build_date,
//               string mpm_name, u32 mpm_processes, u32 mpm_threads
//     u64 socket_timeout_ms, u8[32] secret, string python_object, string build,
//     u8 descriptors
//
//   `descriptors` says which descriptors travel with the message, in this order: bit0 the
//   group's listening socket, bit1 the status table, bit2 the hand-over page, bit3 the
//   error log, bit4 mod_gantry_python.so opened by the parent (kFd* below).
//
// REPLY (spawner -> parent), exactly kReplySize bytes:
//
//     u32 magic "GSPW", u16 version, u16 status (SpawnStatus), i32 pid, i32 errno
//
// The spawner answers every message it receives, so the parent never waits for a reply
// that will not come unless the spawner itself is gone. A message from a different
// version, or naming another build of mod_gantry.so, is answered with bad_version (the
// parent then replaces the spawner).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/protocol.hpp"

namespace gantry::spawn {

inline constexpr std::uint32_t kMagic = 0x57505347;  // "GSPW" little-endian
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::uint16_t kKindLaunch = 1;
inline constexpr std::size_t kMaxLaunch = 64 * 1024;  // one datagram
inline constexpr std::size_t kReplySize = 16;
inline constexpr std::uint32_t kNoHandover = 0xffffffffu;

// Descriptor bits, in the order the descriptors are attached.
inline constexpr std::uint8_t kFdListen = 1u << 0;
inline constexpr std::uint8_t kFdTable = 1u << 1;  // no longer sent: daemons never get the table
inline constexpr std::uint8_t kFdHandover = 1u << 2;  // the slot pages' memfd
inline constexpr std::uint8_t kFdErrorLog = 1u << 3;
inline constexpr std::uint8_t kFdPythonObject = 1u << 4;
inline constexpr std::size_t kMaxDescriptors = 5;

struct LaunchIdentity {
  bool switch_user = false;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user_name;
  std::string home;  // where the daemon starts; "" = stay in Apache's directory
  bool home_given = false;
  std::vector<std::uint32_t> extra_groups;
};

struct LaunchPython {
  std::string python_home;
  std::vector<std::string> python_path;
  std::uint32_t optimize = 0;
  bool restrict_stdin = true;
  bool restrict_stdout = true;
  bool restrict_signal = true;
  bool dont_write_bytecode = false;
  bool destroy_interpreter = true;
  std::int64_t hash_seed = -1;
  std::vector<std::string> warn_options;
};

// The server facts of the parent's generation (gantry/server_facts.hpp) that a daemon
// reports to applications (the `apache` module); the group's own figures come from its options.
struct LaunchServer {
  std::string apache_version;
  std::string description;
  std::string build_date;
  std::string mpm_name;
  std::uint32_t mpm_processes = 1;
  std::uint32_t mpm_threads = 1;
};

struct LaunchPreload {
  std::string script;
  std::string application_group;
  std::string callable;
};

struct LaunchRequest {
  std::uint32_t generation = 0;
  std::uint32_t process_index = 0;
  std::uint32_t cell = 0;
  bool standby = false;        // this process waits as the slot's spare
  bool keeps_standby = false;  // the slot keeps a spare: hand over to it when recycling
  std::uint32_t delay_seconds = 0;
  std::uint32_t exit_record = 0;  // unused (0): the exit note is in the slot's page now
  // Its page in the slot pages (hand-over, RSS, exit note; docs/shared-memory.md).
  std::uint32_t handover_slot = kNoHandover;
  std::uint32_t log_level = 0;
  bool core_dumps = false;
  std::string group;
  std::vector<std::string> option_words;  // WSGIDaemonProcess arguments after the name
  LaunchIdentity identity;
  LaunchPython python;
  std::vector<LaunchPreload> preload;
  LaunchServer server;
  std::uint64_t socket_timeout_ms = 0;
  protocol::Secret secret{};
  std::string python_object;  // path of mod_gantry_python.so
  // The GNU build id of the parent's mod_gantry.so: a spawner running another build (its
  // code is the first start's, a graceful restart may have loaded an upgrade) refuses the
  // launch with bad_version, so its daemon code never meets a different Python object.
  std::string build;
  std::uint8_t descriptors = 0;

  // How many descriptors travel with the message (set bits of `descriptors`).
  std::size_t descriptor_count() const;
};

// Throws ProtocolError(oversized) when the message would exceed kMaxLaunch.
std::string encode_launch(const LaunchRequest& request);
// Throws ProtocolError: bad_magic, bad_version (the spawner answers it as such), truncated,
// malformed (forged counts, unknown descriptor bits, trailing bytes, unknown kind).
LaunchRequest decode_launch(std::string_view message);

enum class SpawnStatus : std::uint16_t {
  started = 0,        // pid is the new process (a child of Apache's parent)
  clone_failed = 1,   // error is the errno of clone()
  malformed = 2,      // the launch message did not decode
  bad_version = 3,    // the launch message is from another build
  descriptors = 4,    // the descriptors that came with it do not match `descriptors`
};

struct SpawnReply {
  SpawnStatus status = SpawnStatus::started;
  std::int32_t pid = 0;
  std::int32_t error = 0;
};

std::array<char, kReplySize> encode_reply(const SpawnReply& reply);
// Throws ProtocolError on a reply of the wrong size, magic, version or status.
SpawnReply decode_reply(std::string_view bytes);

// "clone failed", ... for log lines.
const char* describe(SpawnStatus status);

}  // namespace gantry::spawn
