#pragma once
// MD5 (RFC 1321), only to name script modules the way mod_wsgi does ("_mod_wsgi_" + the
// hex digest of the script path). Not for anything security-related. It lives here so the
// daemon and embedded interpreters never import Python's hashlib for it: that import maps
// libcrypto (~3.4 MiB RSS per process) just to hash one path.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gantry {

// The 16-byte digest of `data`.
std::array<std::uint8_t, 16> md5(std::string_view data);
// The same as 32 lowercase hex digits (hashlib's hexdigest()).
std::string md5_hex(std::string_view data);

}  // namespace gantry
