#pragma once
// The daemon spawner (docs/spawner.md): a small process Apache's parent forks once, at the
// first real start, before Python can run in the parent. Every daemon process and spare
// of every generation is created by it - with clone(CLONE_PARENT), so it is a child of
// Apache's parent, supervised there exactly as a forked one - from a launch message that
// carries that generation's configuration and descriptors. So every daemon starts without
// Python, whatever the parent holds (WSGILazyInitialization Off starts Python there).
//
//   post_config  prepare_spawner(): fork it if none runs; watch it (other child)
//   fork_cell    spawn_daemon(): one LAUNCH, one REPLY with the pid (or why not)
//   child_init   close_spawner_in_child(): an Apache child must not hold its socket
//   stop         the spawner is stopped with Apache (and dies with the parent anyway)
//
// The spawner outlives graceful and hard restarts; its state is plain data in the process
// pool, like the daemon supervisor's retirement records. This file is the parent's side;
// the spawner's own loop is spawner_process.hpp, the message codec spawn_protocol.hpp.
#include <httpd.h>

#include <string>

#include "gantry/spawn_protocol.hpp"

namespace gantry::module {

// Descriptors that travel with a launch (-1: none).
struct LaunchDescriptors {
  int listen = -1;
  int table = -1;
  int handover = -1;
  int error_log = -1;
  int python_object = -1;
  int scoreboard = -1;  // the cell's status board, writable (status_boards.hpp)
  int control = -1;  // a template's end of its control socket (daemon_template.hpp)
};

// request.descriptors for `fds`.
std::uint8_t descriptor_bits(const LaunchDescriptors& fds);

// A LAUNCH encoded for sending; its copy of the secret is wiped when it goes.
struct EncodedLaunch {
  std::string bytes;
  EncodedLaunch() = default;
  EncodedLaunch(const EncodedLaunch&) = delete;
  EncodedLaunch& operator=(const EncodedLaunch&) = delete;
  ~EncodedLaunch();
};
// Sets request.descriptors from `fds` and encodes it; false with `error` if it does not fit.
bool encode_launch_for(spawn::LaunchRequest& request, const LaunchDescriptors& fds, EncodedLaunch& out,
                       std::string& error);

// Sends one encoded LAUNCH with `fds` on `sock` (the spawner's or a template's) and waits up
// to timeout_ms for the REPLY. False with `error` (the peer is then to be replaced).
bool exchange_launch(int sock, const std::string& message, const LaunchDescriptors& fds,
                     spawn::SpawnReply& reply, std::string& error, int timeout_ms);

// Reads one REPLY from `sock`, waiting at most timeout_ms. False with `error`, which is
// kPeerClosed when the other end closed its socket (it died).
inline constexpr const char* kPeerClosed = "its socket closed";
bool read_launch_reply(int sock, spawn::SpawnReply& reply, std::string& error, int timeout_ms);

// Real post_config passes, in Apache's parent: makes sure a spawner runs and watches it for
// this generation. False (logged) if none could be started.
bool prepare_spawner(apr_pool_t* pconf, server_rec* s);

// Starts one daemon process through the spawner: its pid (a child of this process), or 0
// with `error` saying why. Sets request.descriptors from `fds`. Replaces a spawner that is
// gone, hung, or from another build, and tries once more.
pid_t spawn_daemon(server_rec* s, spawn::LaunchRequest& request, const LaunchDescriptors& fds,
                   std::string& error);

// In an Apache child: closes the parent's end of the spawner's socket.
void close_spawner_in_child();

}  // namespace gantry::module
