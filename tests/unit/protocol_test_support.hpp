#pragma once
// Helpers the protocol unit tests share.
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "gantry/protocol.hpp"

namespace gantry::protocol::testing {

// The kind of ProtocolError `f` throws; fails the test if it throws nothing.
template <class F>
ProtocolError::Kind error_kind(F&& f) {
  try {
    f();
  } catch (const ProtocolError& e) {
    return e.kind();
  }
  BOOST_FAIL("no ProtocolError thrown");
  return ProtocolError::Kind::malformed;
}

// The payload of one encoded frame (its header checked against its size).
inline std::string_view payload_of(const std::string& frame) {
  const FrameHeader h = parse_header(frame.data());
  BOOST_REQUIRE_EQUAL(frame.size(), kHeaderSize + h.length);
  return std::string_view(frame).substr(kHeaderSize);
}

}  // namespace gantry::protocol::testing
