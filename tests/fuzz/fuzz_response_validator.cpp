// fuzz_response_validator: the Python-free half of start_response's checks
// (http_rules.cpp: status line, header names, header values, hop-by-hop names,
// Content-Length), composed the way core/wsgi/response.cpp and the Apache child's
// re-check in daemon_forwarder.cpp compose them.
//
// Input: byte 0 is the separator; the rest is "status SEP name SEP value SEP name SEP ...".
// Properties, beyond "no crash, no sanitizer report":
//   1. each rule agrees with an independent reference written from RFC 9110's grammar;
//   2. a response the validator accepts, written out as an HTTP/1.1 head and read back by
//      a plain head parser, has exactly the status and the headers that were accepted -
//      no header was split, added or lost (response splitting is impossible);
//   3. iequals is an equivalence that ignores ASCII case only.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/channel.hpp"
#include "gantry/http_rules.hpp"

using namespace gantry;

namespace {

// --- The reference (RFC 9110 sections 5.1, 5.5, 5.6.2, 7.6.1; RFC 9112 section 4) ---------

bool ref_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  for (char special : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == static_cast<unsigned char>(special)) return true;
  return false;
}

bool ref_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!ref_tchar(c)) return false;
  return true;
}

// field-content bytes: VCHAR, obs-text, SP, HTAB.
bool ref_field_byte(unsigned char c) { return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f); }

std::optional<std::size_t> ref_bad_value_byte(std::string_view v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!ref_field_byte(static_cast<unsigned char>(v[i]))) return i;
  return std::nullopt;
}

std::string ref_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

bool ref_hop_by_hop(std::string_view name) {
  const std::string lower = ref_lower(name);
  for (const char* h : {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade"})
    if (lower == h) return true;
  return false;
}

std::optional<int> ref_status(std::string_view s) {
  if (s.size() < 4 || s[3] != ' ') return std::nullopt;
  int code = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + 3, code);
  if (ec != std::errc() || end != s.data() + 3 || s[0] == '-' || s[0] == '+') return std::nullopt;
  if (code < 200 || code > 599) return std::nullopt;  // RFC 9110 15.2: 1xx is never final
  if (ref_bad_value_byte(s.substr(4))) return std::nullopt;
  return code;
}

std::optional<std::uint64_t> ref_content_length(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

// --- The validator as response.cpp composes the rules -------------------------------------

bool validate(std::string_view status, const std::vector<Header>& headers) {
  if (!http::parse_status_line(status)) return false;
  for (const Header& h : headers) {
    if (!http::is_token(h.name) || http::is_hop_by_hop(h.name) || http::find_bad_field_value_byte(h.value))
      return false;
    if (http::iequals(h.name, "content-length") && !http::parse_content_length(h.value)) return false;
  }
  return true;
}

// A plain HTTP/1.1 response head reader: lines end at CRLF (a bare LF too, as lenient
// clients read), a header is NAME ":" OWS value OWS.
struct Head {
  std::string status;
  std::vector<Header> headers;
  bool malformed = false;
};

Head read_head(std::string_view text) {
  Head head;
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (lf == std::string_view::npos) break;
    text.remove_prefix(lf + 1);
  }
  if (lines.empty() || lines.front().substr(0, 9) != "HTTP/1.1 ") {
    head.malformed = true;
    return head;
  }
  head.status = std::string(lines.front().substr(9));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      head.malformed = true;
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    head.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  return head;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const char separator = static_cast<char>(data[0]);
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t at = rest.find(separator);
    parts.push_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + 1);
  }
  const std::string_view status = parts[0];
  std::vector<Header> headers;
  for (std::size_t i = 1; i + 1 < parts.size(); i += 2) headers.push_back({std::string(parts[i]), std::string(parts[i + 1])});

  // 1. Each rule against the reference, on every piece of the input.
  FUZZ_CHECK(http::parse_status_line(status) == ref_status(status), "parse_status_line agrees with the reference");
  for (std::string_view part : parts) {
    FUZZ_CHECK(http::is_token(part) == ref_token(part), "is_token agrees with RFC 9110 tchar");
    FUZZ_CHECK(http::find_bad_field_value_byte(part) == ref_bad_value_byte(part),
               "find_bad_field_value_byte agrees with RFC 9110 field-content");
    FUZZ_CHECK(http::is_hop_by_hop(part) == ref_hop_by_hop(part), "is_hop_by_hop agrees with RFC 9110 7.6.1");
    FUZZ_CHECK(http::parse_content_length(part) == ref_content_length(part), "parse_content_length agrees");
    // 3. iequals: equal to the lower-cased comparison.
    FUZZ_CHECK(http::iequals(part, status) == (ref_lower(part) == ref_lower(status)), "iequals folds ASCII case only");
  }

  // 2. Accepted => the head reads back exactly as accepted.
  if (!validate(status, headers)) return 0;
  std::string text = "HTTP/1.1 " + std::string(status) + "\r\n";
  for (const Header& h : headers) text += h.name + ": " + h.value + "\r\n";
  text += "\r\n";
  const Head head = read_head(text);
  FUZZ_CHECK(!head.malformed, "an accepted response head is well-formed");
  FUZZ_CHECK(head.status == status, "the status line reads back unchanged");
  FUZZ_CHECK(head.headers.size() == headers.size(), "no accepted header is split into more, or merged");
  for (std::size_t i = 0; i < headers.size(); ++i) {
    FUZZ_CHECK(head.headers[i].name == headers[i].name, "header names read back unchanged");
    FUZZ_CHECK(head.headers[i].value == trim_ows(headers[i].value), "header values read back unchanged");
  }
  return 0;
}
