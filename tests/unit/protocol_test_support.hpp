#pragma once
// Helpers the frame codec tests share (error_kind comes from protocol_error_kind.hpp).
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "gantry/protocol.hpp"
#include "protocol_error_kind.hpp"

namespace gantry::protocol::testing {

// The payload of one encoded frame (its header checked against its size).
inline std::string_view payload_of(const std::string& frame) {
  const FrameHeader h = parse_header(frame.data());
  BOOST_REQUIRE_EQUAL(frame.size(), kHeaderSize + h.length);
  return std::string_view(frame).substr(kHeaderSize);
}

}  // namespace gantry::protocol::testing
