// fuzz_trusted_proxy: WSGITrustedProxies / WSGITrustedProxyHeaders (trusted_proxy.cpp) -
// addresses and networks as configured, and the forwarding headers a client sends.
//
// Input: bytes 0-1 = the header set (bit i = proxy_headers()[i]); then lines:
//   line 0: WSGITrustedProxies words (space-separated networks; unparsable ones dropped)
//   line 1: the peer address
//   lines 2..16: the values of the 15 forwarding headers in table order ("-" = absent)
// Properties, beyond "no crash, no sanitizer report":
//   1. parse_ip round trip: an accepted address printed by inet_ntop parses to the same;
//   2. parse_network: host bits cleared, prefix within the family, the network contains
//      its base address, and contains() agrees with a bit-by-bit reference;
//   3. resolve_forwarded_for agrees with a plain model of the documented rule;
//   4. apply_trusted_proxy_rules: REMOTE_ADDR is only ever replaced by an IP address,
//      SERVER_PORT by a port, HTTPS by "1"; an untrusted peer changes nothing but removing
//      the listed purposes' headers; at most one header per listed purpose survives; no
//      key outside the documented set is touched.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/trusted_proxy.hpp"

using namespace gantry::proxy;

namespace {

class MapEnviron final : public EnvironEdit {
 public:
  std::map<std::string, std::string, std::less<>> values;
  std::optional<std::string_view> get(std::string_view key) const override {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  void set(std::string_view key, std::string_view value) override { values[std::string(key)] = std::string(value); }
  void unset(std::string_view key) override {
    auto it = values.find(key);
    if (it != values.end()) values.erase(it);
  }
};

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

void check_ip_round_trip(std::string_view text) {
  const auto ip = parse_ip(text);
  if (!ip) return;
  char printed[INET6_ADDRSTRLEN];
  FUZZ_CHECK(inet_ntop(ip->v6 ? AF_INET6 : AF_INET, ip->bytes, printed, sizeof printed) != nullptr, "inet_ntop");
  const auto again = parse_ip(printed);
  FUZZ_CHECK(again && again->v6 == ip->v6 && std::memcmp(again->bytes, ip->bytes, 16) == 0,
             "an accepted address prints and parses back to itself");
}

bool ref_bit(const std::uint8_t* bytes, unsigned i) { return (bytes[i / 8] >> (7 - i % 8)) & 1; }

bool ref_contains(const IpNetwork& network, const IpAddress& address) {
  IpAddress a = address;
  static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.v6 && !network.base.v6 && std::memcmp(a.bytes, mapped, 12) == 0) {
    a = IpAddress{};
    std::memcpy(a.bytes, address.bytes + 12, 4);
  }
  if (a.v6 != network.base.v6) return false;
  for (unsigned i = 0; i < network.prefix; ++i)
    if (ref_bit(a.bytes, i) != ref_bit(network.base.bytes, i)) return false;
  return true;
}

void check_network(const IpNetwork& network, const std::vector<IpAddress>& addresses) {
  const unsigned bits = network.base.v6 ? 128 : 32;
  FUZZ_CHECK(network.prefix <= bits, "a prefix fits the family");
  for (unsigned i = network.prefix; i < 128; ++i)
    FUZZ_CHECK(!ref_bit(network.base.bytes, i), "a network's host bits are cleared");
  FUZZ_CHECK(contains(network, network.base), "a network contains its base address");
  for (const IpAddress& address : addresses)
    FUZZ_CHECK(contains(network, address) == ref_contains(network, address), "contains agrees with the bitwise model");
}

// The documented rule (trusted_proxy.hpp, resolve_forwarded_for), written plainly.
ForwardedFor model_forwarded_for(std::string_view value, const std::vector<IpNetwork>& trusted) {
  std::vector<std::string> items;
  for (std::string_view item : split(value, ',')) {
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
  }
  ForwardedFor out;
  if (items.empty()) return out;
  if (trusted.empty()) {
    if (parse_ip(items[0])) out.client = items[0];
    out.list = std::string(value);
    return out;
  }
  std::optional<std::size_t> client;
  for (std::size_t i = items.size(); i-- > 0;) {
    const auto ip = parse_ip(items[i]);
    if (!ip) break;
    client = i;
    bool proxy = false;
    for (const IpNetwork& n : trusted) proxy = proxy || ref_contains(n, *ip);
    if (!proxy) break;
  }
  if (!client) return out;
  out.client = items[*client];
  for (std::size_t i = *client; i < items.size(); ++i) out.list += (i > *client ? ", " : "") + items[i];
  return out;
}

bool is_port(std::string_view v) {
  if (v.empty() || v.size() > 5) return false;
  unsigned n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n >= 1 && n <= 65535;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t header_bits = (data[0] | (std::uint32_t{data[1]} << 8)) & 0x7fff;
  const std::vector<std::string_view> lines =
      split(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2), '\n');

  std::vector<IpNetwork> trusted;
  std::vector<IpAddress> addresses;
  for (std::string_view word : split(lines[0], ' ')) {
    check_ip_round_trip(word);
    if (auto ip = parse_ip(word)) addresses.push_back(*ip);
    if (auto network = parse_network(word)) trusted.push_back(*network);
  }
  const std::string_view peer = lines.size() > 1 ? lines[1] : "127.0.0.1";
  check_ip_round_trip(peer);
  if (auto ip = parse_ip(peer)) addresses.push_back(*ip);
  for (const IpNetwork& network : trusted) check_network(network, addresses);

  const auto headers = proxy_headers();
  MapEnviron environ;
  environ.values = {{"REMOTE_ADDR", std::string(peer)}, {"SERVER_PORT", "80"}, {"SERVER_NAME", "example"},
                    {"HTTP_HOST", "example"},           {"SCRIPT_NAME", "/app"}, {"PATH_INFO", "/x"},
                    {"HTTP_COOKIE", "c=1"}};
  for (std::size_t i = 0; i < headers.size() && i + 2 < lines.size(); ++i) {
    if (lines[i + 2] == "-") continue;
    environ.values[headers[i].cgi] = std::string(lines[i + 2]);
    for (std::string_view item : split_list(lines[i + 2])) check_ip_round_trip(item);
  }

  // 3. X-Forwarded-For against the model, with and without trusted proxies.
  if (auto xff = environ.get("HTTP_X_FORWARDED_FOR")) {
    for (const auto& set : {std::vector<IpNetwork>{}, trusted}) {
      const ForwardedFor got = resolve_forwarded_for(*xff, set);
      const ForwardedFor want = model_forwarded_for(*xff, set);
      FUZZ_CHECK(got.client == want.client && got.list == want.list,
                 "resolve_forwarded_for agrees with the documented rule");
      FUZZ_CHECK(got.client.empty() || parse_ip(got.client), "the client it finds is an IP address");
    }
  }

  // 4. The environ rewrite.
  const auto before = environ.values;
  TrustedProxyRules rules{header_bits, trusted};
  apply_trusted_proxy_rules(rules, peer, environ);
  const bool peer_trusted = trusted.empty() || contains_any(trusted, peer);

  std::set<std::string, std::less<>> header_keys;
  for (const ProxyHeader& h : headers) header_keys.insert(h.cgi);
  static const std::set<std::string, std::less<>> rewritten = {"REMOTE_ADDR", "HTTPS",       "HTTP_HOST",
                                                               "SERVER_PORT", "SERVER_NAME", "SCRIPT_NAME",
                                                               "mod_wsgi.mount_point"};
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : environ.values) keys.insert(k);
  for (const std::string& key : keys) {
    const auto was = before.find(key);
    const auto now = environ.values.find(key);
    const bool changed = (was == before.end()) != (now == environ.values.end()) ||
                         (was != before.end() && now != environ.values.end() && was->second != now->second);
    if (!changed) continue;
    const bool header = header_keys.count(key) != 0;
    FUZZ_CHECK(header || rewritten.count(key) != 0, "only documented keys are changed");
    FUZZ_CHECK(peer_trusted || (header && now == environ.values.end()),
               "an untrusted peer's request only loses forwarding headers");
    if (header) continue;
    if (key == "REMOTE_ADDR")
      FUZZ_CHECK(now != environ.values.end() && parse_ip(now->second), "REMOTE_ADDR becomes only an IP address");
    if (key == "SERVER_PORT")
      FUZZ_CHECK(now != environ.values.end() && is_port(now->second), "SERVER_PORT becomes only a port number");
    if (key == "HTTPS") FUZZ_CHECK(now == environ.values.end() || now->second == "1", "HTTPS becomes 1 or goes");
  }
  // At most one header of each listed purpose is left.
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (!(header_bits & (1u << i))) continue;
    std::size_t left = 0;
    for (const ProxyHeader& h : headers)
      if (h.purpose == headers[i].purpose && environ.values.count(h.cgi)) ++left;
    FUZZ_CHECK(left <= 1, "at most one header of a listed purpose reaches the application");
    if (!peer_trusted) FUZZ_CHECK(left == 0, "an untrusted peer's headers of a listed purpose are all gone");
  }
  return 0;
}
