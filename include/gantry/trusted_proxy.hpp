#pragma once
// WSGITrustedProxyHeaders / WSGITrustedProxies (mod_wsgi 4.9.3+/6 semantics): which
// forwarding headers a front-end proxy may use to tell the application about the original
// request, and from which peer addresses they are believed.
//
// Apache-free: the module applies the rules to r->subprocess_env through EnvironEdit; the
// unit tests apply them to a map. Everything here is plain data so a DirConfig (pool
// memory, no destructors) can hold it.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::proxy {

// An IPv4 or IPv6 address; IPv4 in the first 4 bytes.
struct IpAddress {
  bool v6 = false;
  std::uint8_t bytes[16] = {};
};

// An address and prefix length (host bits cleared).
struct IpNetwork {
  IpAddress base;
  std::uint8_t prefix = 0;  // 0..32 (IPv4) or 0..128 (IPv6)
};

// A literal IPv4 (dotted quad) or IPv6 address, nothing around it (no brackets, port,
// zone or spaces). nullopt for anything else.
std::optional<IpAddress> parse_ip(std::string_view text);

// "ADDRESS", "ADDRESS/BITS" or, for IPv4, "ADDRESS/NETMASK" (contiguous mask), as
// WSGITrustedProxies takes them. nullopt if malformed.
std::optional<IpNetwork> parse_network(std::string_view text);

// True if `address` is inside `network`. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a
// dual-stack listener reports IPv4 peers) matches as the IPv4 address it carries.
bool contains(const IpNetwork& network, const IpAddress& address);
bool contains_any(std::span<const IpNetwork> networks, std::string_view address);

// What a forwarding header tells.
enum class Purpose : std::uint8_t { client_address, scheme, host, port, server_name, script_name };

struct ProxyHeader {
  const char* name;  // as written in the directive, e.g. "X-Forwarded-For"
  const char* cgi;   // its environ key, e.g. "HTTP_X_FORWARDED_FOR"
  Purpose purpose;
};

// Every header Gantry knows, in a fixed order; a header set is a bit mask over this table.
std::span<const ProxyHeader> proxy_headers();
// The bit of header `name` (case-insensitive), or 0 if it is not a known forwarding header.
std::uint32_t proxy_header_bit(std::string_view name);
// "X-Forwarded-For, X-Client-IP, ..." for error messages.
std::string proxy_header_names();

// The non-empty, trimmed entries of a comma-separated header value (empty entries are
// ignored, as RFC 9110 section 5.6.1 asks of recipients).
std::vector<std::string_view> split_list(std::string_view value);

// X-Forwarded-For from a trusted peer: who the client is, and the list as the app sees it.
struct ForwardedFor {
  std::string client;  // the new REMOTE_ADDR; empty: leave REMOTE_ADDR as it is
  std::string list;    // the new X-Forwarded-For; empty: remove the header
};

// With trusted proxies: walking the list right to left, every entry that is a trusted proxy
// is skipped; the first that is not is the client, and the header keeps the list from the
// client on. If every entry is trusted, the leftmost is the client. An entry that is not an
// IP address ends the walk: the client is then the last address walked past (the proxy that
// reported the garbage), or, if that is the peer itself, REMOTE_ADDR stays and the header
// goes. (mod_wsgi would copy the garbage into REMOTE_ADDR; Gantry never does.)
// Without trusted proxies (every peer believed, mod_wsgi's rule): the leftmost entry is the
// client if it is an address, and the header is kept as sent.
ForwardedFor resolve_forwarded_for(std::string_view value, std::span<const IpNetwork> trusted);

// The environ as the rules see it: CGI keys.
class EnvironEdit {
 public:
  virtual ~EnvironEdit() = default;
  virtual std::optional<std::string_view> get(std::string_view key) const = 0;
  virtual void set(std::string_view key, std::string_view value) = 0;
  virtual void unset(std::string_view key) = 0;
};

struct TrustedProxyRules {
  std::uint32_t headers = 0;             // WSGITrustedProxyHeaders (bits of proxy_headers())
  std::span<const IpNetwork> proxies;    // WSGITrustedProxies; empty: every peer is trusted
};

// Applies `rules` to a request from `peer` (the connection's address). Does nothing when no
// header is listed. If the peer is trusted, each listed header present rewrites the environ
// (REMOTE_ADDR, HTTPS, HTTP_HOST, SERVER_PORT, SERVER_NAME, SCRIPT_NAME +
// mod_wsgi.mount_point) and stays; every other header of the same purpose is removed. If
// the peer is not trusted, every header of a listed purpose is removed and nothing else
// changes.
void apply_trusted_proxy_rules(const TrustedProxyRules& rules, std::string_view peer, EnvironEdit& environ);

}  // namespace gantry::proxy
