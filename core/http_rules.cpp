// Response syntax checks shared by the WSGI adapter and the daemon side.
#include "gantry/http_rules.hpp"

#include <array>

namespace gantry::http {
namespace {

constexpr unsigned char lower(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) t[c] = true;
  return t;
}
constexpr auto kTchar = make_tchar_table();

constexpr bool is_ctl(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!kTchar[c]) return false;
  }
  return true;
}

std::optional<std::size_t> find_bad_field_value_byte(std::string_view value) noexcept {
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (is_ctl(c) && c != '\t') return i;
  }
  return std::nullopt;
}

bool is_hop_by_hop(std::string_view name) noexcept {
  // Short list; a linear scan of exact-length matches beats any hashing here.
  static constexpr std::string_view kHopByHop[] = {
      "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
      "te",         "trailers",   "transfer-encoding",  "upgrade",
  };
  for (auto h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  return false;
}

std::optional<int> parse_status_line(std::string_view status) noexcept {
  if (status.size() < 4 || status[3] != ' ') return std::nullopt;
  int code = 0;
  for (int i = 0; i < 3; ++i) {
    char c = status[i];
    if (c < '0' || c > '9') return std::nullopt;
    code = code * 10 + (c - '0');
  }
  if (code < 200 || code > 599) return std::nullopt;  // 1xx: see the header
  if (find_bad_field_value_byte(status.substr(4))) return std::nullopt;
  return code;
}

std::optional<std::uint64_t> parse_content_length(std::string_view value) noexcept {
  if (value.empty() || value.size() > 18) return std::nullopt;  // 18 digits < 2^63
  std::uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace gantry::http
