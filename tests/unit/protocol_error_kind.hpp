#pragma once
// For codec tests: the kind of ProtocolError `f` throws; fails the test if it throws nothing.
#include <boost/test/unit_test.hpp>

#include "gantry/protocol.hpp"

template <class F>
gantry::protocol::ProtocolError::Kind error_kind(F&& f) {
  try {
    f();
  } catch (const gantry::protocol::ProtocolError& e) {
    return e.kind();
  }
  BOOST_FAIL("no ProtocolError thrown");
  return gantry::protocol::ProtocolError::Kind::malformed;
}
