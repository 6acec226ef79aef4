#pragma once
// The byte-level pieces every Gantry codec shares (core-internal): fixed-width
// little-endian integers, and a bounds-checked Cursor that turns any read past the end of
// a payload, or a count the remaining bytes cannot hold, into a ProtocolError - never a
// read out of bounds or an allocation the sender did not pay for. Used by the frame codec
// (protocol.cpp) and the spawner's launch codec (spawn_protocol.cpp).
#include <cstdint>
#include <string>
#include <string_view>

#include "gantry/protocol.hpp"

namespace gantry::protocol::wire {

inline void put_u16(char* out, std::uint16_t v) {
  out[0] = static_cast<char>(v & 0xff);
  out[1] = static_cast<char>(v >> 8);
}

inline void put_u32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline std::uint16_t get_u16(const char* in) {
  const auto* b = reinterpret_cast<const unsigned char*>(in);
  return static_cast<std::uint16_t>(b[0] | (b[1] << 8));
}

inline std::uint32_t get_u32(const char* in) {
  const auto* b = reinterpret_cast<const unsigned char*>(in);
  return static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
         (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
}

inline void append_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

inline void append_u16(std::string& out, std::uint16_t v) {
  char bytes[2];
  put_u16(bytes, v);
  out.append(bytes, 2);
}

inline void append_u32(std::string& out, std::uint32_t v) {
  char bytes[4];
  put_u32(bytes, v);
  out.append(bytes, 4);
}

inline void append_u64(std::string& out, std::uint64_t v) {
  append_u32(out, static_cast<std::uint32_t>(v & 0xffffffffu));
  append_u32(out, static_cast<std::uint32_t>(v >> 32));
}

class Cursor {
 public:
  Cursor(std::string_view data, const char* what) : data_(data), what_(what) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint16_t u16() { return get_u16(take(2).data()); }
  std::uint32_t u32() { return get_u32(take(4).data()); }
  std::uint64_t u64() {
    const std::uint64_t low = u32();
    return low | (static_cast<std::uint64_t>(u32()) << 32);
  }
  std::string_view bytes(std::size_t n) { return take(n); }
  std::string_view rest() { return take(data_.size()); }
  std::size_t remaining() const { return data_.size(); }

  void expect_end() {
    if (!data_.empty())
      throw ProtocolError(ProtocolError::Kind::malformed,
                          std::string(what_) + " payload has " + std::to_string(data_.size()) +
                              " unexpected trailing bytes");
  }

 private:
  std::string_view take(std::size_t n) {
    if (n > data_.size())
      throw ProtocolError(ProtocolError::Kind::truncated,
                          std::string(what_) + " payload ends early: a field needs " +
                              std::to_string(n) + " bytes, " + std::to_string(data_.size()) +
                              " remain");
    auto part = data_.substr(0, n);
    data_.remove_prefix(n);
    return part;
  }

  std::string_view data_;
  const char* what_;
};

// A count read from the wire, checked against what the remaining bytes could possibly
// hold, so a forged count cannot make us reserve() gigabytes.
inline std::size_t checked_count(Cursor& in, std::size_t min_entry_size, const char* what) {
  const std::uint32_t count = in.u32();
  if (count > in.remaining() / min_entry_size)
    throw ProtocolError(ProtocolError::Kind::malformed,
                        std::string(what) + " claims " + std::to_string(count) +
                            " entries but only " + std::to_string(in.remaining()) +
                            " bytes follow");
  return count;
}

}  // namespace gantry::protocol::wire
