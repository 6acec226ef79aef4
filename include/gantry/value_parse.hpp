#pragma once
// Strict parsers for directive values. Each returns nullopt instead of guessing: "15x",
// " 15", "+15" and overflowing numbers are rejected, unlike atoi(), so a typo in a
// directive is reported at `apachectl -t` time instead of silently becoming 0.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gantry {

// Decimal digits with an optional leading '-'. Rejects empty input and overflow.
std::optional<std::int64_t> parse_whole_number(std::string_view text);

// A byte count: decimal digits optionally followed by one of K, M, G, T (either case;
// binary multiples: 1K = 1024). "32M" -> 33554432. Rejects overflow past INT64_MAX.
std::optional<std::int64_t> parse_size(std::string_view text);

// Octal digits, as umask values are written ("022", "0022", "0"). At most 0777777.
std::optional<std::int64_t> parse_octal(std::string_view text);

// A non-negative decimal number: digits with an optional fraction ("0.002", "5", "1.5").
// No sign, exponent, "inf" or "nan"; at most 15 significant digits.
std::optional<double> parse_decimal(std::string_view text);

// "On" or "Off", either case, as Apache's flag directives accept.
std::optional<bool> parse_on_off(std::string_view text);

// The shortest exact spelling of a byte count in parse_size's syntax: 33554432 -> "32M",
// 1000 -> "1000". Used in messages and docs so that what we print can be pasted back.
std::string format_size(std::int64_t bytes);

}  // namespace gantry
