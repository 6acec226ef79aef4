// The frame codec: round trips, and every way a frame can lie (truncated, oversized,
// forged counts, unknown types, bad HELLOs) ending in a ProtocolError, never a crash.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>

#include "gantry/protocol.hpp"
#include "protocol_test_support.hpp"

namespace p = gantry::protocol;
using p::testing::payload_of;
using p::ProtocolError;

namespace {

p::Secret test_secret(std::uint8_t seed) {
  p::Secret s;
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(seed + i * 7);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(protocol_codec)

BOOST_AUTO_TEST_CASE(header_layout_is_little_endian) {
  char h[8];
  p::put_header(h, p::FrameType::request, 0x00020304);
  const unsigned char expected[8] = {2, 0, 0, 0, 4, 3, 2, 0};
  BOOST_TEST(std::memcmp(h, expected, 8) == 0);
  const auto parsed = p::parse_header(h);
  BOOST_TEST((parsed.type == p::FrameType::request));
  BOOST_TEST(parsed.length == 0x00020304u);
}

BOOST_AUTO_TEST_CASE(header_rejections) {
  char h[8];
  p::put_header(h, p::FrameType::data, 10);
  h[0] = 0;
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::unknown_type));
  h[0] = 99;
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::unknown_type));
  p::put_header(h, p::FrameType::data, 10);
  h[1] = 1;  // flags
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::malformed));
  p::put_header(h, p::FrameType::data, 10);
  h[3] = 1;  // reserved
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::malformed));
  // Oversized for its type, including the 4 GiB a hostile length field can claim.
  p::put_header(h, p::FrameType::data, p::kMaxChunk + 1);
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::oversized));
  p::put_header(h, p::FrameType::request, 0xffffffffu);
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::oversized));
  p::put_header(h, p::FrameType::body_end, 1);
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::oversized));
  // Fixed-size frames must be exactly their size.
  p::put_header(h, p::FrameType::read_more, 3);
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::malformed));
  p::put_header(h, p::FrameType::end, 0);
  BOOST_TEST((error_kind([&] { p::parse_header(h); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(hello_checks_magic_version_secret) {
  const p::Secret secret = test_secret(1);
  std::string frame;
  p::append_hello(frame, secret);
  BOOST_REQUIRE_EQUAL(frame.size(), p::kHeaderSize + p::kHelloPayload);
  auto check = [&](const std::string& f, const p::Secret& s) {
    p::check_hello(std::span<const char, p::kHeaderSize + p::kHelloPayload>(f.data(), f.size()), s);
  };
  check(frame, secret);  // no throw
  BOOST_TEST((error_kind([&] { check(frame, test_secret(2)); }) == ProtocolError::Kind::bad_secret));
  std::string bad = frame;
  bad[8] = 'X';
  BOOST_TEST((error_kind([&] { check(bad, secret); }) == ProtocolError::Kind::bad_magic));
  bad = frame;
  bad[16] = static_cast<char>(p::kProtocolVersion + 1);  // a version from another build
  BOOST_TEST((error_kind([&] { check(bad, secret); }) == ProtocolError::Kind::bad_version));
  bad = frame;
  bad[0] = static_cast<char>(p::FrameType::data);
  BOOST_TEST((error_kind([&] { check(bad, secret); }) != ProtocolError::Kind::bad_secret));
}

BOOST_AUTO_TEST_CASE(secrets) {
  const p::Secret a = p::generate_secret();
  const p::Secret b = p::generate_secret();
  BOOST_TEST(!p::secrets_equal(a, b));
  BOOST_TEST(p::secrets_equal(a, a));
}

BOOST_AUTO_TEST_CASE(request_round_trip_is_binary_safe) {
  std::vector<gantry::EnvEntry> environ = {
      {"REQUEST_METHOD", "POST"},
      {"HTTP_X_BINARY", std::string("a\0b\xff\r\n", 6)},
      {"EMPTY", ""},
      {std::string("K\0EY", 4), std::string(100000, 'v')},
  };
  gantry::ServerTraits traits{true, false, true};
  std::string frame;
  p::append_request(frame, environ, traits);
  const auto message = p::decode_request(payload_of(frame));
  BOOST_REQUIRE_EQUAL(message.environ.size(), environ.size());
  for (std::size_t i = 0; i < environ.size(); ++i) {
    BOOST_TEST(message.environ[i].key == environ[i].key);
    BOOST_TEST(message.environ[i].value == environ[i].value);
  }
  BOOST_TEST(message.traits.multithread);
  BOOST_TEST(!message.traits.multiprocess);
  BOOST_TEST(message.traits.run_once);
}

BOOST_AUTO_TEST_CASE(every_truncation_of_every_payload_is_an_error) {
  std::vector<std::string> frames(5);
  p::append_request(frames[0], std::vector<gantry::EnvEntry>{{"A", "1"}, {"BB", "22"}}, {});
  p::append_response_start(frames[1], "200 OK", {{"Content-Type", "text/plain"}, {"X", ""}});
  p::append_file(frames[2], 5, 10);
  p::append_end(frames[3], gantry::Outcome::ok);
  p::append_read_more(frames[4], 1000);
  for (const auto& frame : frames) {
    const auto type = p::parse_header(frame.data()).type;
    const std::string_view payload = payload_of(frame);
    for (std::size_t cut = 0; cut < payload.size(); ++cut) {
      const std::string_view shorter = payload.substr(0, cut);
      try {
        switch (type) {
          case p::FrameType::request: p::decode_request(shorter); break;
          case p::FrameType::response_start: p::decode_response_start(shorter); break;
          case p::FrameType::file: p::decode_file(shorter); break;
          case p::FrameType::end: p::decode_end(shorter); break;
          default: p::decode_read_more(shorter); break;
        }
        BOOST_ERROR("a truncated " << p::frame_name(static_cast<std::uint8_t>(type))
                                   << " payload of " << cut << " bytes was accepted");
      } catch (const ProtocolError& e) {
        BOOST_TEST((e.kind() == ProtocolError::Kind::truncated ||
                    e.kind() == ProtocolError::Kind::malformed));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(forged_counts_do_not_allocate) {
  // A REQUEST claiming 4 billion entries in 12 bytes: rejected before reserve().
  std::string payload("\0\0\0\0\xff\xff\xff\xff\0\0\0\0", 12);
  BOOST_TEST((error_kind([&] { p::decode_request(payload); }) == ProtocolError::Kind::malformed));
  // An entry claiming a 4 GiB key: rejected as truncated, nothing copied.
  std::string payload2("\0\0\0\0\1\0\0\0\xff\xff\xff\xff\0\0\0\0", 16);
  BOOST_TEST((error_kind([&] { p::decode_request(payload2); }) == ProtocolError::Kind::truncated));
  // Trailing garbage is not ignored.
  std::string frame;
  p::append_request(frame, std::vector<gantry::EnvEntry>{{"A", "1"}}, {});
  frame += "x";
  BOOST_TEST((error_kind([&] { p::decode_request(std::string_view(frame).substr(8)); }) ==
              ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(small_frames_round_trip) {
  std::string f;
  p::append_response_start(f, "404 Not Found", {{"A", "b"}, {"Set-Cookie", std::string("x\0y", 3)}});
  const auto response = p::decode_response_start(payload_of(f));
  BOOST_TEST(response.status == "404 Not Found");
  BOOST_REQUIRE_EQUAL(response.headers.size(), 2u);
  BOOST_TEST(response.headers[1].value == std::string("x\0y", 3));

  f.clear();
  p::append_file(f, 1ull << 40, 12345);
  const auto range = p::decode_file(payload_of(f));
  BOOST_TEST(range.offset == 1ull << 40);
  BOOST_TEST(range.length == 12345u);

  f.clear();
  p::append_log(f, gantry::Level::warning, "careful");
  const auto line = p::decode_log(payload_of(f));
  BOOST_TEST((line.level == gantry::Level::warning));
  BOOST_TEST(line.message == "careful");

  f.clear();
  p::append_log(f, gantry::Level::info, std::string(p::kMaxLogMessage + 100, 'x'));
  BOOST_TEST(p::decode_log(payload_of(f)).message.size() == p::kMaxLogMessage);

  for (auto outcome : {gantry::Outcome::ok, gantry::Outcome::not_found,
                       gantry::Outcome::server_error, gantry::Outcome::aborted}) {
    f.clear();
    p::append_end(f, outcome);
    BOOST_TEST((p::decode_end(payload_of(f)) == outcome));
  }

  f.clear();
  p::append_abort(f, gantry::ChannelError::Kind::bad_request_body, "bad chunk");
  const auto abort = p::decode_abort(payload_of(f));
  BOOST_TEST((abort.kind == gantry::ChannelError::Kind::bad_request_body));
  BOOST_TEST(abort.message == "bad chunk");

  f.clear();
  p::append_read_more(f, 65536);
  BOOST_TEST(p::decode_read_more(payload_of(f)) == 65536u);
}

BOOST_AUTO_TEST_CASE(out_of_range_enums_are_rejected) {
  BOOST_TEST((error_kind([] { p::decode_log(std::string_view("\x08hi", 3)); }) ==
              ProtocolError::Kind::malformed));
  BOOST_TEST((error_kind([] { p::decode_end(std::string_view("\x04", 1)); }) ==
              ProtocolError::Kind::malformed));
  BOOST_TEST((error_kind([] { p::decode_abort(std::string_view("\x09", 1)); }) ==
              ProtocolError::Kind::malformed));
  std::string f;
  p::append_file(f, UINT64_MAX, 1);
  BOOST_TEST((error_kind([&] { p::decode_file(payload_of(f)); }) == ProtocolError::Kind::malformed));
}

BOOST_AUTO_TEST_CASE(encoder_refuses_frames_over_the_limit) {
  std::string f = "keep";
  std::vector<gantry::Header> huge = {{"X-Huge", std::string(p::kMaxFramePayload, 'h')}};
  BOOST_TEST((error_kind([&] { p::append_response_start(f, "200 OK", huge); }) ==
              ProtocolError::Kind::oversized));
  BOOST_TEST(f == "keep");  // nothing half-written left behind
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash_the_decoders) {
  std::mt19937 random(12345);
  std::string bytes;
  int wrong = 0, accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes.resize(random() % 64);
    for (auto& c : bytes) c = static_cast<char>(random());
    // True if the decoder took the bytes; a ProtocolError is a refusal; anything else
    // escapes and fails the test.
    auto quietly = [](auto&& f) {
      try {
        f();
        return true;
      } catch (const ProtocolError&) {
        return false;
      }
    };
    quietly([&] { p::decode_request(bytes); });
    quietly([&] { p::decode_response_start(bytes); });
    quietly([&] { p::decode_file(bytes); });
    quietly([&] { p::decode_log(bytes); });
    // Beyond "no crash": the fixed-size decoders accept exactly the inputs their format
    // allows, checked against the format itself (END: one byte, a known outcome;
    // READ_MORE: four bytes, any value).
    const bool end_ok = bytes.size() == 1 && static_cast<unsigned char>(bytes[0]) <= 3;
    if (quietly([&] { p::decode_end(bytes); }) != end_ok) ++wrong;
    if (quietly([&] { p::decode_read_more(bytes); }) != (bytes.size() == 4)) ++wrong;
    accepted += end_ok || bytes.size() == 4;
    quietly([&] { p::decode_abort(bytes); });
    if (bytes.size() >= 8) quietly([&] { p::parse_header(bytes.data()); });
  }
  BOOST_TEST(wrong == 0);
  BOOST_TEST(accepted > 100);  // the accepting branch was exercised, not only refusals
}

BOOST_AUTO_TEST_SUITE_END()
