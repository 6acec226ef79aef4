// Strict directive value parsers (see value_parse.hpp for the accepted syntax).
#include "gantry/value_parse.hpp"

#include <charconv>
#include <limits>

namespace gantry {

namespace {

// Digits only, base 10 or 8, no sign. Rejects empty input and values past `limit`.
std::optional<std::int64_t> parse_digits(std::string_view text, int base, std::int64_t limit) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c >= '0' + base) return std::nullopt;
    const int digit = c - '0';
    if (value > (limit - digit) / base) return std::nullopt;
    value = value * base + digit;
  }
  return value;
}

}  // namespace

std::optional<std::int64_t> parse_whole_number(std::string_view text) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  if (!text.empty() && text.front() == '-') {
    // -INT64_MAX is as far as we go; nobody configures -9223372036854775808.
    auto magnitude = parse_digits(text.substr(1), 10, kMax);
    if (!magnitude) return std::nullopt;
    return -*magnitude;
  }
  return parse_digits(text, 10, kMax);
}

std::optional<std::int64_t> parse_size(std::string_view text) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) return std::nullopt;
  int shift = 0;
  switch (text.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: break;
  }
  if (shift != 0) text.remove_suffix(1);
  auto number = parse_digits(text, 10, kMax);
  if (!number) return std::nullopt;
  if (*number > (kMax >> shift)) return std::nullopt;
  return *number << shift;
}

std::optional<std::int64_t> parse_octal(std::string_view text) {
  return parse_digits(text, 8, 0777777);
}

std::optional<double> parse_decimal(std::string_view text) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;  // "", "."
  if (whole.size() + fraction.size() > 15) return std::nullopt;
  auto digits = [](std::string_view part) {
    for (char c : part)
      if (c < '0' || c > '9') return false;
    return true;
  };
  if (!digits(whole) || !digits(fraction)) return std::nullopt;
  double value = 0;  // validated above, so from_chars only has to round correctly
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::optional<bool> parse_on_off(std::string_view text) {
  auto equals_folded = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != b[i]) return false;
    }
    return true;
  };
  if (equals_folded(text, "on")) return true;
  if (equals_folded(text, "off")) return false;
  return std::nullopt;
}

std::string format_size(std::int64_t bytes) {
  static constexpr struct { int shift; char suffix; } kUnits[] = {
      {40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  if (bytes > 0) {
    for (const auto& unit : kUnits) {
      const std::int64_t scale = std::int64_t{1} << unit.shift;
      if (bytes % scale == 0) return std::to_string(bytes / scale) + unit.suffix;
    }
  }
  return std::to_string(bytes);
}

}  // namespace gantry
