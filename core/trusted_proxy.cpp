// WSGITrustedProxyHeaders / WSGITrustedProxies: address matching, list walking and the
// environ rewrite (see include/gantry/trusted_proxy.hpp for the rules).
#include "gantry/trusted_proxy.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

#include "gantry/http_rules.hpp"

namespace gantry::proxy {
namespace {

// clang-format off
constexpr std::array<ProxyHeader, 15> kHeaders = {{
  {"X-Forwarded-For",         "HTTP_X_FORWARDED_FOR",         Purpose::client_address},
  {"X-Client-IP",             "HTTP_X_CLIENT_IP",             Purpose::client_address},
  {"X-Real-IP",               "HTTP_X_REAL_IP",               Purpose::client_address},
  {"X-Forwarded-Proto",       "HTTP_X_FORWARDED_PROTO",       Purpose::scheme},
  {"X-Forwarded-Scheme",      "HTTP_X_FORWARDED_SCHEME",      Purpose::scheme},
  {"X-Scheme",                "HTTP_X_SCHEME",                Purpose::scheme},
  {"X-Forwarded-SSL",         "HTTP_X_FORWARDED_SSL",         Purpose::scheme},
  {"X-Forwarded-HTTPS",       "HTTP_X_FORWARDED_HTTPS",       Purpose::scheme},
  {"X-HTTPS",                 "HTTP_X_HTTPS",                 Purpose::scheme},
  {"X-Forwarded-Host",        "HTTP_X_FORWARDED_HOST",        Purpose::host},
  {"X-Host",                  "HTTP_X_HOST",                  Purpose::host},
  {"X-Forwarded-Port",        "HTTP_X_FORWARDED_PORT",        Purpose::port},
  {"X-Forwarded-Server",      "HTTP_X_FORWARDED_SERVER",      Purpose::server_name},
  {"X-Script-Name",           "HTTP_X_SCRIPT_NAME",           Purpose::script_name},
  {"X-Forwarded-Script-Name", "HTTP_X_FORWARDED_SCRIPT_NAME", Purpose::script_name},
}};
// clang-format on
constexpr std::size_t kPurposes = 6;

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The scheme a header value states: true = https, false = http, nullopt = neither.
std::optional<bool> scheme_of(std::string_view header, std::string_view value) {
  const bool flag_style = header == "HTTP_X_FORWARDED_SSL" || header == "HTTP_X_FORWARDED_HTTPS" ||
                          header == "HTTP_X_HTTPS";
  if (flag_style) {
    if (http::iequals(value, "on") || http::iequals(value, "true") || value == "1") return true;
    if (http::iequals(value, "off") || http::iequals(value, "false") || value == "0") return false;
    return std::nullopt;
  }
  if (http::iequals(value, "https")) return true;
  if (http::iequals(value, "http")) return false;
  return std::nullopt;
}

bool valid_port(std::string_view value) {
  unsigned port = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
  return !value.empty() && ec == std::errc() && end == value.data() + value.size() && port >= 1 && port <= 65535;
}

// Applies a trusted header's value. A value that says nothing usable (an address that is
// not one, a scheme that is neither http nor https, a port out of range) changes nothing,
// but the header is still the one of its purpose the application sees.
void apply_header(const ProxyHeader& header, std::string_view value, const TrustedProxyRules& rules,
                  EnvironEdit& environ) {
  const std::string_view cgi = header.cgi;
  switch (header.purpose) {
    case Purpose::client_address:
      if (cgi == "HTTP_X_FORWARDED_FOR") {
        ForwardedFor resolved = resolve_forwarded_for(value, rules.proxies);
        if (!resolved.client.empty()) environ.set("REMOTE_ADDR", resolved.client);
        if (resolved.list.empty()) environ.unset(cgi);
        else if (resolved.list != value) environ.set(cgi, resolved.list);
      } else if (parse_ip(trim(value))) {
        environ.set("REMOTE_ADDR", trim(value));
      }
      return;
    case Purpose::scheme:
      if (auto https = scheme_of(cgi, trim(value))) {
        if (*https) environ.set("HTTPS", "1");
        else environ.unset("HTTPS");
      }
      return;
    case Purpose::host:
      if (!trim(value).empty()) environ.set("HTTP_HOST", trim(value));
      return;
    case Purpose::port:
      if (valid_port(trim(value))) environ.set("SERVER_PORT", trim(value));
      return;
    case Purpose::server_name:
      if (!trim(value).empty()) environ.set("SERVER_NAME", trim(value));
      return;
    case Purpose::script_name:
      environ.set("SCRIPT_NAME", value);
      environ.set("mod_wsgi.mount_point", value);
      return;
  }
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  // inet_pton needs a terminated string; the longest IPv6 text form is 45 characters.
  char buffer[64];
  if (text.empty() || text.size() >= sizeof buffer || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buffer, address.bytes) != 1) return std::nullopt;
    address.v6 = true;
  } else if (inet_pton(AF_INET, buffer, address.bytes) != 1) {
    return std::nullopt;
  }
  return address;
}

std::optional<IpNetwork> parse_network(std::string_view text) {
  const std::size_t slash = text.find('/');
  auto base = parse_ip(text.substr(0, slash));
  if (!base) return std::nullopt;
  const unsigned bits = base->v6 ? 128 : 32;
  IpNetwork network{*base, static_cast<std::uint8_t>(bits)};
  if (slash != std::string_view::npos) {
    std::string_view mask = text.substr(slash + 1);
    if (!base->v6 && mask.find('.') != std::string_view::npos) {
      // 255.255.0.0: contiguous ones only.
      auto m = parse_ip(mask);
      if (!m || m->v6) return std::nullopt;
      std::uint32_t value = (std::uint32_t(m->bytes[0]) << 24) | (std::uint32_t(m->bytes[1]) << 16) |
                            (std::uint32_t(m->bytes[2]) << 8) | m->bytes[3];
      unsigned ones = 0;
      while (ones < 32 && (value & (0x80000000u >> ones))) ++ones;
      if (ones < 32 && (value << ones) != 0) return std::nullopt;
      network.prefix = static_cast<std::uint8_t>(ones);
    } else {
      unsigned prefix = 0;
      auto [end, ec] = std::from_chars(mask.data(), mask.data() + mask.size(), prefix);
      if (mask.empty() || ec != std::errc() || end != mask.data() + mask.size() || prefix > bits)
        return std::nullopt;
      network.prefix = static_cast<std::uint8_t>(prefix);
    }
  }
  // Clear the host bits, so 10.1.2.3/8 means 10.0.0.0/8 (as APR's subnet test does).
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= network.prefix) network.base.bytes[i] = 0;
    else if (network.prefix - first_bit < 8)
      network.base.bytes[i] &= static_cast<std::uint8_t>(0xFF00u >> (network.prefix - first_bit));
  }
  return network;
}

bool contains(const IpNetwork& network, const IpAddress& address) {
  IpAddress candidate = address;
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (candidate.v6 && !network.base.v6 && std::memcmp(candidate.bytes, kMappedPrefix, 12) == 0) {
    candidate = IpAddress{};
    std::memcpy(candidate.bytes, address.bytes + 12, 4);
  }
  if (candidate.v6 != network.base.v6) return false;
  unsigned bits = network.prefix;
  for (unsigned i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
    const std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF00u >> bits);
    if ((candidate.bytes[i] & mask) != network.base.bytes[i]) return false;
  }
  return true;
}

bool contains_any(std::span<const IpNetwork> networks, std::string_view address) {
  auto ip = parse_ip(address);
  if (!ip) return false;
  for (const IpNetwork& network : networks)
    if (contains(network, *ip)) return true;
  return false;
}

std::span<const ProxyHeader> proxy_headers() { return kHeaders; }

std::uint32_t proxy_header_bit(std::string_view name) {
  for (std::size_t i = 0; i < kHeaders.size(); ++i)
    if (http::iequals(name, kHeaders[i].name)) return 1u << i;
  return 0;
}

std::string proxy_header_names() {
  std::string names;
  for (const ProxyHeader& h : kHeaders) names += (names.empty() ? "" : ", ") + std::string(h.name);
  return names;
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> items;
  while (true) {
    const std::size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return items;
}

ForwardedFor resolve_forwarded_for(std::string_view value, std::span<const IpNetwork> trusted) {
  const std::vector<std::string_view> items = split_list(value);
  ForwardedFor out;
  if (items.empty()) return out;
  if (trusted.empty()) {
    if (parse_ip(items.front())) out.client = items.front();
    out.list = value;
    return out;
  }
  // `client`: index of the entry that is the client; items.size() = none yet (the peer).
  std::size_t client = items.size();
  for (std::size_t i = items.size(); i-- > 0;) {
    auto ip = parse_ip(items[i]);
    if (!ip) break;  // garbage: the walk ends at the last address walked past
    client = i;
    bool is_proxy = false;
    for (const IpNetwork& network : trusted) is_proxy = is_proxy || contains(network, *ip);
    if (!is_proxy) break;
  }
  if (client == items.size()) return out;
  out.client = items[client];
  for (std::size_t i = client; i < items.size(); ++i) {
    if (i > client) out.list += ", ";
    out.list += items[i];
  }
  return out;
}

void apply_trusted_proxy_rules(const TrustedProxyRules& rules, std::string_view peer, EnvironEdit& environ) {
  if (!rules.headers) return;
  const bool trusted = rules.proxies.empty() || contains_any(rules.proxies, peer);
  // Per purpose: is any of its headers listed, and which one (if any) the app keeps.
  std::array<bool, kPurposes> listed{};
  std::array<const char*, kPurposes> kept{};
  for (std::size_t i = 0; i < kHeaders.size(); ++i) {
    if (!(rules.headers & (1u << i))) continue;
    const ProxyHeader& header = kHeaders[i];
    const auto purpose = static_cast<std::size_t>(header.purpose);
    listed[purpose] = true;
    if (!trusted) continue;
    auto value = environ.get(header.cgi);
    if (!value) continue;
    // Copied: applying it may replace the environ entry the view points into.
    const std::string copy(*value);
    apply_header(header, copy, rules, environ);
    kept[purpose] = header.cgi;
  }
  for (const ProxyHeader& header : kHeaders) {
    const auto purpose = static_cast<std::size_t>(header.purpose);
    if (listed[purpose] && header.cgi != kept[purpose]) environ.unset(header.cgi);
  }
}

}  // namespace gantry::proxy
