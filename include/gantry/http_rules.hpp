#pragma once
// HTTP syntax rules an application's response must obey before Gantry passes it on
// (RFC 9110 tokens and field values, the status line, hop-by-hop fields). Python-free and
// Apache-free, so the WSGI adapter and the daemon side share one definition.
#include <cstdint>
#include <optional>
#include <string_view>

namespace gantry::http {

// ASCII case-insensitive equality (header names).
bool iequals(std::string_view a, std::string_view b) noexcept;

// RFC 9110 token: 1*tchar, tchar = "!#$%&'*+-.^_`|~" / DIGIT / ALPHA.
bool is_token(std::string_view s) noexcept;

// A field value in latin-1 bytes: no CTLs (0x00-0x1F, 0x7F) except HTAB, so no CR, LF or
// NUL can split or truncate the header block. Returns the offset of the first bad byte, or
// nullopt when the value is fine.
std::optional<std::size_t> find_bad_field_value_byte(std::string_view value) noexcept;

// Connection-specific fields (RFC 9110 7.6.1) that an application must not set; the
// server owns the connection. Matches case-insensitively.
bool is_hop_by_hop(std::string_view name) noexcept;

// "NNN reason": three digits (200-599), one space, a reason phrase without CTLs (HTAB
// allowed). Returns the status code, or nullopt if malformed. A 1xx code is refused: it is
// an interim response in HTTP, so sent as the final one the client would wait for another
// response and take the next request's answer for it (a desync on a kept-alive connection);
// a WSGI application has no way to send a real interim response.
std::optional<int> parse_status_line(std::string_view status) noexcept;

// Content-Length value: 1*DIGIT fitting in 63 bits. nullopt if malformed.
std::optional<std::uint64_t> parse_content_length(std::string_view value) noexcept;

}  // namespace gantry::http
