// AUTH_QUERY / AUTH_REPLY: the codec, and both ends (ask_daemon_auth against a
// SocketChannel that answers) over a real socketpair.
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "gantry/daemon_auth_client.hpp"
#include "gantry/socket_channel.hpp"

#include "protocol_test_support.hpp"

namespace p = gantry::protocol;
using p::testing::payload_of;
using gantry::AuthAnswer;
using gantry::AuthCall;
using gantry::AuthQuery;
using gantry::AuthReply;
using p::ProtocolError;

namespace {

using namespace std::chrono_literals;

const p::Secret kSecret = [] {
  p::Secret s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(i * 13 + 5);
  return s;
}();

AuthQuery sample_query() {
  AuthQuery q;
  q.call = AuthCall::check_password;
  q.script_path = "/srv/auth.wsgi";
  q.application_group = "auth|/x";
  q.reload_on_change = false;
  q.user = "al\xe9ice";
  q.argument = std::string("pa\0ss", 5);
  return q;
}

const std::vector<gantry::EnvEntry> kEnviron = {{"REQUEST_URI", "/x?y"}, {"HTTP_HOST", ""}};

struct CapturingLogger : gantry::Logger {
  std::vector<std::pair<gantry::Level, std::string>> lines;
  void log(gantry::Level level, std::string_view message) override { lines.emplace_back(level, message); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(auth_frames)

BOOST_AUTO_TEST_CASE(query_round_trip_is_binary_safe) {
  std::string frame;
  p::append_auth_query(frame, sample_query(), kEnviron);
  BOOST_TEST((p::parse_header(frame.data()).type == p::FrameType::auth_query));
  const auto message = p::decode_auth_query(payload_of(frame));
  BOOST_TEST((message.query.call == AuthCall::check_password));
  BOOST_TEST(message.query.script_path == "/srv/auth.wsgi");
  BOOST_TEST(message.query.application_group == "auth|/x");
  BOOST_TEST(!message.query.reload_on_change);
  BOOST_TEST(message.query.user == "al\xe9ice");
  BOOST_TEST(message.query.argument == std::string("pa\0ss", 5));
  BOOST_REQUIRE_EQUAL(message.environ.size(), 2u);
  BOOST_TEST(message.environ[0].key == "REQUEST_URI");
  BOOST_TEST(message.environ[1].value == "");
}

BOOST_AUTO_TEST_CASE(reply_round_trip) {
  for (auto answer : {AuthAnswer::granted, AuthAnswer::denied, AuthAnswer::unknown, AuthAnswer::error}) {
    AuthReply reply;
    reply.answer = answer;
    reply.values = {"admins", std::string("st\0aff", 6), ""};
    std::string frame;
    p::append_auth_reply(frame, reply);
    const AuthReply back = p::decode_auth_reply(payload_of(frame));
    BOOST_TEST((back.answer == answer));
    BOOST_TEST(back.values == reply.values);
  }
}

BOOST_AUTO_TEST_CASE(truncated_forged_and_out_of_range_payloads_are_errors) {
  std::string query, reply;
  p::append_auth_query(query, sample_query(), kEnviron);
  p::append_auth_reply(reply, AuthReply{AuthAnswer::granted, {"a", "bb"}});
  for (std::size_t cut = 0; cut < payload_of(query).size(); ++cut)
    BOOST_TEST((error_kind([&] { p::decode_auth_query(payload_of(query).substr(0, cut)); }) !=
                ProtocolError::Kind::unexpected_frame));
  for (std::size_t cut = 0; cut < payload_of(reply).size(); ++cut)
    BOOST_TEST((error_kind([&] { p::decode_auth_reply(payload_of(reply).substr(0, cut)); }) !=
                ProtocolError::Kind::unexpected_frame));
  // Unknown call, unknown flag, unknown answer, non-zero reserved bytes.
  std::string bad(payload_of(query));
  bad[0] = 9;
  BOOST_TEST((error_kind([&] { p::decode_auth_query(bad); }) == ProtocolError::Kind::malformed));
  bad = std::string(payload_of(query));
  bad[1] = 2;
  BOOST_TEST((error_kind([&] { p::decode_auth_query(bad); }) == ProtocolError::Kind::malformed));
  bad = std::string(payload_of(reply));
  bad[0] = 4;
  BOOST_TEST((error_kind([&] { p::decode_auth_reply(bad); }) == ProtocolError::Kind::malformed));
  bad = std::string(payload_of(reply));
  bad[2] = 1;
  BOOST_TEST((error_kind([&] { p::decode_auth_reply(bad); }) == ProtocolError::Kind::malformed));
  // A count of 4 billion values in 8 bytes: refused before anything is reserved.
  const std::string forged("\0\0\0\0\xff\xff\xff\xff", 8);
  BOOST_TEST((error_kind([&] { p::decode_auth_reply(forged); }) == ProtocolError::Kind::malformed));
  // Trailing bytes are not ignored.
  const std::string longer = std::string(payload_of(reply)) + "x";
  BOOST_TEST((error_kind([&] { p::decode_auth_reply(longer); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash_the_decoders) {
  std::mt19937 random(4242);
  std::string bytes;
  for (int round = 0; round < 20000; ++round) {
    bytes.resize(random() % 64);
    for (auto& c : bytes) c = static_cast<char>(random());
    try {
      p::decode_auth_query(bytes);
    } catch (const ProtocolError&) {
    }
    try {
      p::decode_auth_reply(bytes);
    } catch (const ProtocolError&) {
    }
  }
  BOOST_TEST(true);
}

// Both ends: the daemon sees the query and the environ, its LOG lines reach the Apache
// side's logger in order, and its reply comes back.
BOOST_AUTO_TEST_CASE(ask_daemon_auth_against_a_socket_channel) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  std::optional<AuthQuery> seen;
  std::vector<gantry::EnvEntry> seen_environ;
  std::thread daemon([&, fd = fds[1]] {
    gantry::SocketChannelOptions options;
    options.socket_timeout = 5s;
    gantry::SocketChannel channel(fd, kSecret, options);
    seen = channel.auth_query();
    seen_environ.assign(channel.environ().begin(), channel.environ().end());
    channel.log(gantry::Level::error, "GANTRY0402: Traceback (most recent call last):");
    channel.finish_auth(AuthReply{AuthAnswer::granted, {"renamed"}});
    ::close(fd);
  });
  CapturingLogger log;
  const auto result = gantry::ask_daemon_auth(fds[0], kSecret, sample_query(), kEnviron, 5s, log);
  daemon.join();
  ::close(fds[0]);
  BOOST_REQUIRE(result.delivered);
  BOOST_TEST((result.reply.answer == AuthAnswer::granted));
  BOOST_TEST(result.reply.values == std::vector<std::string>{"renamed"});
  BOOST_REQUIRE(seen.has_value());
  BOOST_TEST(seen->user == "al\xe9ice");
  BOOST_TEST(seen_environ.size() == kEnviron.size());
  BOOST_REQUIRE_EQUAL(log.lines.size(), 1u);
  BOOST_TEST((log.lines[0].first == gantry::Level::error));
}

// A daemon that hangs up without AUTH_REPLY is a failure, never an answer.
BOOST_AUTO_TEST_CASE(hang_up_without_reply_is_not_an_answer) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  std::thread daemon([fd = fds[1]] {
    gantry::SocketChannelOptions options;
    options.socket_timeout = 5s;
    gantry::SocketChannel channel(fd, kSecret, options);
    ::close(fd);
  });
  CapturingLogger log;
  const auto result = gantry::ask_daemon_auth(fds[0], kSecret, sample_query(), kEnviron, 5s, log);
  daemon.join();
  ::close(fds[0]);
  BOOST_TEST(!result.delivered);
  BOOST_TEST((result.reply.answer == AuthAnswer::error));
  BOOST_TEST(!result.detail.empty());
}

BOOST_AUTO_TEST_SUITE_END()
