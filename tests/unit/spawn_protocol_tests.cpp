// The spawner's launch codec: every field survives a round trip, and every way a message
// can lie (truncated anywhere, forged counts, wrong magic or version, unknown bits,
// oversized) ends in a ProtocolError, never a crash or a huge allocation.
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "gantry/spawn_protocol.hpp"
#include "protocol_error_kind.hpp"

namespace s = gantry::spawn;
using gantry::protocol::ProtocolError;

namespace {

s::LaunchRequest sample() {
  s::LaunchRequest r;
  r.generation = 3;
  r.process_index = 7;
  r.cell = 1;
  r.standby = true;
  r.keeps_standby = true;
  r.delay_seconds = 4;
  r.exit_record = 19;
  r.handover_slot = 9;
  r.log_level = 6;
  r.core_dumps = true;
  r.group = "tenant-a";
  r.option_words = {"processes=2", "python-path=/srv/a:/srv/b", "display-name=%{GROUP}", ""};
  r.identity.switch_user = true;
  r.identity.uid = 33;
  r.identity.gid = 34;
  r.identity.user_name = "www-data";
  r.identity.home = "/var/www";
  r.identity.home_given = true;
  r.identity.extra_groups = {4, 27, 100000};
  r.python.python_home = "/srv/venv";
  r.python.python_path = {"/srv/a", "/srv/b"};
  r.python.optimize = 2;
  r.python.restrict_stdin = false;
  r.python.restrict_stdout = true;
  r.python.restrict_signal = false;
  r.python.dont_write_bytecode = true;
  r.python.destroy_interpreter = false;
  r.python.hash_seed = 4294967295LL;
  r.python.warn_options = {"ignore::DeprecationWarning", "error"};
  r.preload = {{"/srv/a/wsgi.py", "", "application"}, {"/srv/b/x.wsgi", "host:8080", "app"}};
  r.server = {"2.4.62", "Apache/2.4.62 (Debian) Gantry/0.1.0", "2026-11-12T08:58:41", "event", 16, 25};
  r.socket_timeout_ms = 60000;
  for (std::size_t i = 0; i < r.secret.size(); ++i) r.secret[i] = static_cast<std::uint8_t>(i * 11 + 1);
  r.python_object = "/usr/lib/apache2/modules/mod_gantry_python.so";
  r.build = "9fa9b0944cc795d9b15347ec99155f555e176d34";
  r.descriptors = s::kFdListen | s::kFdTable | s::kFdHandover | s::kFdErrorLog;
  return r;
}


}  // namespace

BOOST_AUTO_TEST_SUITE(spawn_protocol)

BOOST_AUTO_TEST_CASE(launch_round_trip_keeps_every_field) {
  const s::LaunchRequest a = sample();
  const s::LaunchRequest b = s::decode_launch(s::encode_launch(a));
  BOOST_TEST(b.generation == a.generation);
  BOOST_TEST(b.process_index == a.process_index);
  BOOST_TEST(b.cell == a.cell);
  BOOST_TEST(b.standby == a.standby);
  BOOST_TEST(b.keeps_standby == a.keeps_standby);
  BOOST_TEST(b.delay_seconds == a.delay_seconds);
  BOOST_TEST(b.exit_record == a.exit_record);
  BOOST_TEST(b.handover_slot == a.handover_slot);
  BOOST_TEST(b.log_level == a.log_level);
  BOOST_TEST(b.core_dumps == a.core_dumps);
  BOOST_TEST(b.group == a.group);
  BOOST_TEST(b.option_words == a.option_words, boost::test_tools::per_element());
  BOOST_TEST(b.identity.switch_user == a.identity.switch_user);
  BOOST_TEST(b.identity.uid == a.identity.uid);
  BOOST_TEST(b.identity.gid == a.identity.gid);
  BOOST_TEST(b.identity.user_name == a.identity.user_name);
  BOOST_TEST(b.identity.home == a.identity.home);
  BOOST_TEST(b.identity.home_given == a.identity.home_given);
  BOOST_TEST(b.identity.extra_groups == a.identity.extra_groups, boost::test_tools::per_element());
  BOOST_TEST(b.python.python_home == a.python.python_home);
  BOOST_TEST(b.python.python_path == a.python.python_path, boost::test_tools::per_element());
  BOOST_TEST(b.python.optimize == a.python.optimize);
  BOOST_TEST(b.python.restrict_stdin == a.python.restrict_stdin);
  BOOST_TEST(b.python.restrict_stdout == a.python.restrict_stdout);
  BOOST_TEST(b.python.restrict_signal == a.python.restrict_signal);
  BOOST_TEST(b.python.dont_write_bytecode == a.python.dont_write_bytecode);
  BOOST_TEST(b.python.destroy_interpreter == a.python.destroy_interpreter);
  BOOST_TEST(b.python.hash_seed == a.python.hash_seed);
  BOOST_TEST(b.python.warn_options == a.python.warn_options, boost::test_tools::per_element());
  s::LaunchRequest random_seed = a;
  random_seed.python.hash_seed = -1;  // "random" survives as -1
  BOOST_TEST(s::decode_launch(s::encode_launch(random_seed)).python.hash_seed == -1);
  BOOST_REQUIRE_EQUAL(b.preload.size(), a.preload.size());
  for (std::size_t i = 0; i < a.preload.size(); ++i) {
    BOOST_TEST(b.preload[i].script == a.preload[i].script);
    BOOST_TEST(b.preload[i].application_group == a.preload[i].application_group);
    BOOST_TEST(b.preload[i].callable == a.preload[i].callable);
  }
  BOOST_TEST(b.server.apache_version == a.server.apache_version);
  BOOST_TEST(b.server.description == a.server.description);
  BOOST_TEST(b.server.build_date == a.server.build_date);
  BOOST_TEST(b.server.mpm_name == a.server.mpm_name);
  BOOST_TEST(b.server.mpm_processes == a.server.mpm_processes);
  BOOST_TEST(b.server.mpm_threads == a.server.mpm_threads);
  BOOST_TEST(b.socket_timeout_ms == a.socket_timeout_ms);
  BOOST_TEST(b.secret == a.secret);
  BOOST_TEST(b.python_object == a.python_object);
  BOOST_TEST(b.build == a.build);
  BOOST_TEST(b.descriptors == a.descriptors);
  BOOST_TEST(b.descriptor_count() == 4u);
}

BOOST_AUTO_TEST_CASE(layout_starts_with_magic_version_and_kind) {
  const std::string m = s::encode_launch(sample());
  const unsigned char head[8] = {'G', 'S', 'P', 'W', 2, 0, 1, 0};
  BOOST_REQUIRE_GE(m.size(), 8u);
  BOOST_TEST(std::memcmp(m.data(), head, 8) == 0);
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  const std::string m = s::encode_launch(sample());
  for (std::size_t n = 0; n < m.size(); ++n) {
    const auto kind = error_kind([&] { s::decode_launch(std::string_view(m).substr(0, n)); });
    BOOST_TEST((kind == ProtocolError::Kind::truncated || kind == ProtocolError::Kind::malformed),
               "cut at " << n);
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_an_error) {
  std::string m = s::encode_launch(sample());
  m.push_back('x');
  BOOST_TEST((error_kind([&] { s::decode_launch(m); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(wrong_magic_version_and_kind) {
  std::string m = s::encode_launch(sample());
  std::string bad = m;
  bad[0] = 'X';
  BOOST_TEST((error_kind([&] { s::decode_launch(bad); }) == ProtocolError::Kind::bad_magic));
  bad = m;
  bad[4] = 1;  // the previous version
  BOOST_TEST((error_kind([&] { s::decode_launch(bad); }) == ProtocolError::Kind::bad_version));
  bad = m;
  bad[6] = 9;
  BOOST_TEST((error_kind([&] { s::decode_launch(bad); }) == ProtocolError::Kind::unknown_type));
}

BOOST_AUTO_TEST_CASE(forged_counts_do_not_allocate) {
  s::LaunchRequest r = sample();
  r.option_words.clear();
  std::string m = s::encode_launch(r);
  // The option-word count follows the group name: find it and claim 4 billion words.
  const std::size_t at = 8 + 4 * 3 + 2 + 4 * 4 + 1 + 4 + r.group.size();
  BOOST_REQUIRE(m.substr(at, 4) == std::string(4, '\0'));
  m[at] = m[at + 1] = m[at + 2] = m[at + 3] = '\xff';
  BOOST_TEST((error_kind([&] { s::decode_launch(m); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(flags_and_descriptor_bits_are_checked) {
  std::string m = s::encode_launch(sample());
  std::string bad = m;
  bad[8 + 12] = 2;  // standby is 0 or 1
  BOOST_TEST((error_kind([&] { s::decode_launch(bad); }) == ProtocolError::Kind::malformed));
  bad = m;
  bad.back() = static_cast<char>(0x40);  // descriptor bit nobody defined
  BOOST_TEST((error_kind([&] { s::decode_launch(bad); }) == ProtocolError::Kind::malformed));
  s::LaunchRequest r = sample();
  r.descriptors &= static_cast<std::uint8_t>(~s::kFdHandover);  // a slot but no page
  const std::string no_page = s::encode_launch(r);
  BOOST_TEST((error_kind([&] { s::decode_launch(no_page); }) == ProtocolError::Kind::malformed));
  r = sample();
  r.keeps_standby = false;  // a spare where the slot keeps none
  const std::string stray_spare = s::encode_launch(r);
  BOOST_TEST((error_kind([&] { s::decode_launch(stray_spare); }) == ProtocolError::Kind::malformed));
  r = sample();
  r.cell = 2;
  const std::string bad_cell = s::encode_launch(r);
  BOOST_TEST((error_kind([&] { s::decode_launch(bad_cell); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(template_role_travels_with_its_control_socket_only) {
  s::LaunchRequest r = sample();
  r.standby = false;
  r.role = s::LaunchRole::template_;
  r.descriptors = s::kFdErrorLog | s::kFdControl;
  r.handover_slot = s::kNoHandover;
  r.keeps_standby = false;
  const s::LaunchRequest back = s::decode_launch(s::encode_launch(r));
  BOOST_TEST((back.role == s::LaunchRole::template_));
  BOOST_TEST(back.descriptor_count() == 2u);
  s::LaunchRequest no_socket = r;
  no_socket.descriptors = s::kFdErrorLog;  // a template without its control socket
  const std::string a = s::encode_launch(no_socket);
  BOOST_TEST((error_kind([&] { s::decode_launch(a); }) == ProtocolError::Kind::malformed));
  s::LaunchRequest daemon_with_socket = sample();
  daemon_with_socket.descriptors |= s::kFdControl;  // a daemon process never gets one
  const std::string b = s::encode_launch(daemon_with_socket);
  BOOST_TEST((error_kind([&] { s::decode_launch(b); }) == ProtocolError::Kind::malformed));
  std::string unknown_role = s::encode_launch(r);
  unknown_role[unknown_role.size() - 2] = 7;
  BOOST_TEST((error_kind([&] { s::decode_launch(unknown_role); }) == ProtocolError::Kind::malformed));
  const auto ready = s::encode_reply({s::SpawnStatus::ready, 99, 0});
  BOOST_TEST((s::decode_reply(std::string_view(ready.data(), ready.size())).status == s::SpawnStatus::ready));
}

BOOST_AUTO_TEST_CASE(oversized_messages_are_refused_both_ways) {
  s::LaunchRequest r = sample();
  r.python.python_path.assign(100, std::string(1000, 'p'));
  BOOST_TEST((error_kind([&] { s::encode_launch(r); }) == ProtocolError::Kind::oversized));
  const std::string huge(s::kMaxLaunch + 1, '\0');
  BOOST_TEST((error_kind([&] { s::decode_launch(huge); }) == ProtocolError::Kind::oversized));
}

BOOST_AUTO_TEST_CASE(reply_round_trip_and_rejections) {
  const auto bytes = s::encode_reply({s::SpawnStatus::started, 4242, 0});
  const s::SpawnReply r = s::decode_reply(std::string_view(bytes.data(), bytes.size()));
  BOOST_TEST((r.status == s::SpawnStatus::started));
  BOOST_TEST(r.pid == 4242);
  const auto failed = s::encode_reply({s::SpawnStatus::clone_failed, 0, 11});
  const s::SpawnReply f = s::decode_reply(std::string_view(failed.data(), failed.size()));
  BOOST_TEST((f.status == s::SpawnStatus::clone_failed));
  BOOST_TEST(f.error == 11);
  BOOST_TEST((error_kind([&] { s::decode_reply(std::string_view(bytes.data(), 15)); }) ==
              ProtocolError::Kind::malformed));
  auto zero_pid = s::encode_reply({s::SpawnStatus::started, 0, 0});
  BOOST_TEST((error_kind([&] { s::decode_reply(std::string_view(zero_pid.data(), zero_pid.size())); }) ==
              ProtocolError::Kind::malformed));
  auto bad_status = bytes;
  bad_status[6] = 77;
  BOOST_TEST((error_kind([&] { s::decode_reply(std::string_view(bad_status.data(), bad_status.size())); }) ==
              ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_SUITE_END()
