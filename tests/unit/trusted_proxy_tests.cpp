// WSGITrustedProxies / WSGITrustedProxyHeaders rules (core/trusted_proxy.cpp).
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include "gantry/trusted_proxy.hpp"

using namespace gantry::proxy;

namespace {

std::vector<IpNetwork> networks(std::initializer_list<const char*> specs) {
  std::vector<IpNetwork> out;
  for (const char* spec : specs) {
    auto n = parse_network(spec);
    BOOST_REQUIRE_MESSAGE(n, spec);
    out.push_back(*n);
  }
  return out;
}

class MapEnviron final : public EnvironEdit {
 public:
  std::map<std::string, std::string, std::less<>> vars;
  std::optional<std::string_view> get(std::string_view key) const override {
    auto it = vars.find(key);
    if (it == vars.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  void set(std::string_view key, std::string_view value) override { vars[std::string(key)] = value; }
  void unset(std::string_view key) override {
    if (auto it = vars.find(key); it != vars.end()) vars.erase(it);
  }
  bool has(const char* key) const { return vars.count(key) != 0; }
  std::string at(const char* key) const { return vars.count(key) ? vars.at(key) : "<unset>"; }
};

std::uint32_t bits(std::initializer_list<const char*> names) {
  std::uint32_t out = 0;
  for (const char* name : names) {
    const std::uint32_t bit = proxy_header_bit(name);
    BOOST_REQUIRE_MESSAGE(bit, name);
    out |= bit;
  }
  return out;
}

MapEnviron request(std::initializer_list<std::pair<const char*, const char*>> headers) {
  MapEnviron env;
  env.vars = {{"REMOTE_ADDR", "10.0.0.1"}, {"HTTP_HOST", "backend:8080"}, {"SERVER_PORT", "8080"},
              {"SERVER_NAME", "backend"}, {"SCRIPT_NAME", "/app"}};
  for (auto& [k, v] : headers) env.vars[k] = v;
  return env;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(trusted_proxy)

BOOST_AUTO_TEST_CASE(ip_literals) {
  BOOST_TEST(parse_ip("127.0.0.1").has_value());
  BOOST_TEST(!parse_ip("127.0.0.1")->v6);
  BOOST_TEST(parse_ip("::1")->v6);
  BOOST_TEST(parse_ip("2001:db8::42").has_value());
  BOOST_TEST(parse_ip("::ffff:192.0.2.1").has_value());
  for (const char* bad : {"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80",
                          "[::1]", "fe80::1%eth0", "example.com", "unknown", "1.2.3.4/8", ":::",
                          "2001:db8::g", "\x01", "0x7f.0.0.1"}) {
    BOOST_TEST(!parse_ip(bad).has_value(), "accepted '" << bad << "'");
  }
  BOOST_TEST(!parse_ip(std::string(100, '1')).has_value());
  BOOST_TEST(!parse_ip(std::string_view("1.2.3.4\0", 8)).has_value());
}

BOOST_AUTO_TEST_CASE(networks_and_matching) {
  auto net = *parse_network("192.168.0.0/16");
  BOOST_TEST(contains(net, *parse_ip("192.168.200.1")));
  BOOST_TEST(!contains(net, *parse_ip("192.169.0.1")));
  BOOST_TEST(!contains(net, *parse_ip("::1")));
  // Host bits are cleared; /0 is everything of the family; a bare address is /32 or /128.
  BOOST_TEST(contains(*parse_network("10.1.2.3/8"), *parse_ip("10.200.0.1")));
  BOOST_TEST(contains(*parse_network("0.0.0.0/0"), *parse_ip("203.0.113.9")));
  BOOST_TEST(!contains(*parse_network("0.0.0.0/0"), *parse_ip("2001:db8::1")));
  BOOST_TEST(contains(*parse_network("10.0.0.1"), *parse_ip("10.0.0.1")));
  BOOST_TEST(!contains(*parse_network("10.0.0.1"), *parse_ip("10.0.0.2")));
  // Odd prefix lengths.
  BOOST_TEST(contains(*parse_network("10.0.0.0/9"), *parse_ip("10.127.255.255")));
  BOOST_TEST(!contains(*parse_network("10.0.0.0/9"), *parse_ip("10.128.0.0")));
  BOOST_TEST(contains(*parse_network("10.0.0.0/31"), *parse_ip("10.0.0.1")));
  BOOST_TEST(!contains(*parse_network("10.0.0.0/31"), *parse_ip("10.0.0.2")));
  // IPv6.
  BOOST_TEST(contains(*parse_network("2001:db8::/32"), *parse_ip("2001:db8:ffff::1")));
  BOOST_TEST(!contains(*parse_network("2001:db8::/32"), *parse_ip("2001:db9::1")));
  BOOST_TEST(contains(*parse_network("::1"), *parse_ip("::1")));
  BOOST_TEST(contains(*parse_network("2001:db8::/127"), *parse_ip("2001:db8::1")));
  BOOST_TEST(!contains(*parse_network("2001:db8::/127"), *parse_ip("2001:db8::2")));
  // A dual-stack listener's view of an IPv4 peer matches IPv4 networks.
  BOOST_TEST(contains(*parse_network("127.0.0.0/8"), *parse_ip("::ffff:127.0.0.1")));
  BOOST_TEST(!contains(*parse_network("127.0.0.0/8"), *parse_ip("::ffff:10.0.0.1")));
  BOOST_TEST(!contains(*parse_network("127.0.0.0/8"), *parse_ip("::127.0.0.1")));
  // Netmask form.
  BOOST_TEST(parse_network("192.168.0.0/255.255.0.0")->prefix == 16);
  BOOST_TEST(parse_network("10.0.0.0/255.255.255.255")->prefix == 32);
  BOOST_TEST(parse_network("0.0.0.0/0.0.0.0")->prefix == 0);
  for (const char* bad : {"10.0.0.0/", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8/8",
                          "10.0.0.0/255.0.255.0", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/x", "garbage",
                          "::/255.255.0.0", "10.0.0.0/::", ""}) {
    BOOST_TEST(!parse_network(bad).has_value(), "accepted '" << bad << "'");
  }
  auto list = networks({"10.0.0.0/8", "::1"});
  BOOST_TEST(contains_any(list, "10.9.9.9"));
  BOOST_TEST(contains_any(list, "::1"));
  BOOST_TEST(!contains_any(list, "127.0.0.1"));
  BOOST_TEST(!contains_any(list, "garbage"));
  BOOST_TEST(!contains_any(list, ""));
}

BOOST_AUTO_TEST_CASE(header_names) {
  BOOST_TEST(proxy_header_bit("X-Forwarded-For") != 0u);
  BOOST_TEST(proxy_header_bit("x-forwarded-for") == proxy_header_bit("X-Forwarded-For"));
  BOOST_TEST(proxy_header_bit("X-Forwarded-Proto") != proxy_header_bit("X-Forwarded-For"));
  BOOST_TEST(proxy_header_bit("X-Forwarded-Foo") == 0u);
  BOOST_TEST(proxy_header_bit("HTTP_X_FORWARDED_FOR") == 0u);
  BOOST_TEST(proxy_header_bit("") == 0u);
  BOOST_TEST(proxy_header_names().find("X-Script-Name") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(list_splitting) {
  using V = std::vector<std::string_view>;
  BOOST_TEST((split_list("a, b ,c") == V{"a", "b", "c"}));
  BOOST_TEST((split_list(" , a,, ,b,") == V{"a", "b"}));
  BOOST_TEST((split_list("") == V{}));
  BOOST_TEST((split_list(" \t ") == V{}));
  BOOST_TEST((split_list(",,,") == V{}));
  BOOST_TEST((split_list("\ta\t") == V{"a"}));
}

BOOST_AUTO_TEST_CASE(forwarded_for_walk) {
  auto trusted = networks({"10.0.0.0/8", "2001:db8::/32"});
  auto r = resolve_forwarded_for("203.0.113.7", trusted);
  BOOST_TEST(r.client == "203.0.113.7");
  BOOST_TEST(r.list == "203.0.113.7");
  // Right to left past trusted proxies; what the client claimed before is dropped.
  r = resolve_forwarded_for("1.1.1.1, 203.0.113.7, 10.0.0.2, 10.0.0.3", trusted);
  BOOST_TEST(r.client == "203.0.113.7");
  BOOST_TEST(r.list == "203.0.113.7, 10.0.0.2, 10.0.0.3");
  // Every entry trusted: the leftmost.
  r = resolve_forwarded_for("10.0.0.5,10.0.0.6", trusted);
  BOOST_TEST(r.client == "10.0.0.5");
  BOOST_TEST(r.list == "10.0.0.5, 10.0.0.6");
  // IPv6 entries, spaces, empty entries.
  r = resolve_forwarded_for(" 2001:db9::1 ,, 2001:db8::5 , ", trusted);
  BOOST_TEST(r.client == "2001:db9::1");
  BOOST_TEST(r.list == "2001:db9::1, 2001:db8::5");
  // Garbage ends the walk: never copied into REMOTE_ADDR.
  r = resolve_forwarded_for("203.0.113.7, unknown, 10.0.0.2", trusted);
  BOOST_TEST(r.client == "10.0.0.2");
  BOOST_TEST(r.list == "10.0.0.2");
  r = resolve_forwarded_for("203.0.113.7, <script>", trusted);
  BOOST_TEST(r.client.empty());
  BOOST_TEST(r.list.empty());
  r = resolve_forwarded_for("1.2.3.4:5678", trusted);
  BOOST_TEST(r.client.empty());
  // Nothing in it.
  r = resolve_forwarded_for(" , ", trusted);
  BOOST_TEST(r.client.empty());
  BOOST_TEST(r.list.empty());
}

BOOST_AUTO_TEST_CASE(forwarded_for_without_trusted_proxies) {
  auto r = resolve_forwarded_for(" , 203.0.113.7, 10.0.0.1", {});
  BOOST_TEST(r.client == "203.0.113.7");
  BOOST_TEST(r.list == " , 203.0.113.7, 10.0.0.1");  // kept as sent
  r = resolve_forwarded_for("garbage, 10.0.0.1", {});
  BOOST_TEST(r.client.empty());
  r = resolve_forwarded_for("", {});
  BOOST_TEST(r.client.empty());
}

BOOST_AUTO_TEST_CASE(no_headers_listed_changes_nothing) {
  auto env = request({{"HTTP_X_FORWARDED_FOR", "203.0.113.7"}, {"HTTP_X_FORWARDED_PROTO", "https"}});
  const auto before = env.vars;
  auto proxies = networks({"10.0.0.1"});
  apply_trusted_proxy_rules({0, proxies}, "10.0.0.1", env);
  BOOST_TEST((env.vars == before));
}

BOOST_AUTO_TEST_CASE(untrusted_peer_loses_every_header_of_a_listed_purpose) {
  auto proxies = networks({"10.0.0.0/8"});
  auto env = request({{"HTTP_X_FORWARDED_FOR", "203.0.113.7"}, {"HTTP_X_CLIENT_IP", "203.0.113.8"},
                      {"HTTP_X_REAL_IP", "203.0.113.9"}, {"HTTP_X_FORWARDED_PROTO", "https"},
                      {"HTTP_X_SCHEME", "https"}, {"HTTP_X_FORWARDED_HOST", "evil"},
                      {"HTTP_X_FORWARDED_PORT", "1"}, {"HTTP_X_SCRIPT_NAME", "/x"}});
  apply_trusted_proxy_rules({bits({"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port"}), proxies},
                            "192.0.2.1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "10.0.0.1");
  for (const char* gone : {"HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PROTO",
                           "HTTP_X_SCHEME", "HTTP_X_FORWARDED_PORT"})
    BOOST_TEST(!env.has(gone), gone);
  BOOST_TEST(!env.has("HTTPS"));
  BOOST_TEST(env.at("SERVER_PORT") == "8080");
  // Purposes not listed are not Gantry's business.
  BOOST_TEST(env.at("HTTP_X_FORWARDED_HOST") == "evil");
  BOOST_TEST(env.at("HTTP_X_SCRIPT_NAME") == "/x");
  BOOST_TEST(env.at("HTTP_HOST") == "backend:8080");
}

BOOST_AUTO_TEST_CASE(client_ip_is_stripped_from_untrusted_peer) {
  // CVE-2022-2255: mod_wsgi before 4.9.3 let X-Client-IP through here.
  auto proxies = networks({"10.0.0.1"});
  auto env = request({{"HTTP_X_CLIENT_IP", "203.0.113.8"}});
  apply_trusted_proxy_rules({bits({"X-Client-IP"}), proxies}, "192.0.2.1", env);
  BOOST_TEST(!env.has("HTTP_X_CLIENT_IP"));
  BOOST_TEST(env.at("REMOTE_ADDR") == "10.0.0.1");
  // Unparseable peer address: not trusted.
  env = request({{"HTTP_X_CLIENT_IP", "203.0.113.8"}});
  apply_trusted_proxy_rules({bits({"X-Client-IP"}), proxies}, "", env);
  BOOST_TEST(!env.has("HTTP_X_CLIENT_IP"));
}

BOOST_AUTO_TEST_CASE(trusted_peer_rewrites) {
  auto proxies = networks({"10.0.0.0/8"});
  auto env = request({{"HTTP_X_FORWARDED_FOR", "198.51.100.1, 203.0.113.7, 10.0.0.9"},
                      {"HTTP_X_REAL_IP", "1.1.1.1"},
                      {"HTTP_X_FORWARDED_HOST", "www.example.org"},
                      {"HTTP_X_HOST", "other"},
                      {"HTTP_X_FORWARDED_PROTO", "HTTPS"},
                      {"HTTP_X_FORWARDED_SSL", "off"},
                      {"HTTP_X_FORWARDED_PORT", "443"},
                      {"HTTP_X_FORWARDED_SERVER", "www.example.org"},
                      {"HTTP_X_SCRIPT_NAME", "/mounted"},
                      {"HTTP_X_FORWARDED_SCRIPT_NAME", "/other"}});
  apply_trusted_proxy_rules({bits({"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                                   "X-Forwarded-Port", "X-Forwarded-Server", "X-Script-Name"}),
                             proxies},
                            "10.0.0.1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "203.0.113.7");
  BOOST_TEST(env.at("HTTP_X_FORWARDED_FOR") == "203.0.113.7, 10.0.0.9");
  BOOST_TEST(!env.has("HTTP_X_REAL_IP"));
  BOOST_TEST(env.at("HTTP_HOST") == "www.example.org");
  BOOST_TEST(!env.has("HTTP_X_HOST"));
  BOOST_TEST(env.at("HTTPS") == "1");
  BOOST_TEST(!env.has("HTTP_X_FORWARDED_SSL"));
  BOOST_TEST(env.at("SERVER_PORT") == "443");
  BOOST_TEST(env.at("SERVER_NAME") == "www.example.org");
  BOOST_TEST(env.at("SCRIPT_NAME") == "/mounted");
  BOOST_TEST(env.at("mod_wsgi.mount_point") == "/mounted");
  BOOST_TEST(!env.has("HTTP_X_FORWARDED_SCRIPT_NAME"));
}

BOOST_AUTO_TEST_CASE(trusted_values_that_say_nothing_change_nothing) {
  auto proxies = networks({"10.0.0.1"});
  auto env = request({{"HTTP_X_REAL_IP", "not-an-ip"}, {"HTTP_X_FORWARDED_PROTO", "gopher"},
                      {"HTTP_X_FORWARDED_PORT", "99999"}, {"HTTPS", "on"}});
  apply_trusted_proxy_rules({bits({"X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Port"}), proxies}, "10.0.0.1",
                            env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "10.0.0.1");
  BOOST_TEST(env.at("HTTPS") == "on");
  BOOST_TEST(env.at("SERVER_PORT") == "8080");
  BOOST_TEST(env.at("HTTP_X_REAL_IP") == "not-an-ip");  // still the one header of its purpose
  // "http" from the proxy turns HTTPS off; flag style headers take on/off/true/false/1/0.
  env = request({{"HTTPS", "on"}, {"HTTP_X_FORWARDED_PROTO", "http"}});
  apply_trusted_proxy_rules({bits({"X-Forwarded-Proto"}), proxies}, "10.0.0.1", env);
  BOOST_TEST(!env.has("HTTPS"));
  for (const char* yes : {"on", "On", "TRUE", "1"}) {
    env = request({{"HTTP_X_FORWARDED_SSL", yes}});
    apply_trusted_proxy_rules({bits({"X-Forwarded-SSL"}), proxies}, "10.0.0.1", env);
    BOOST_TEST(env.at("HTTPS") == "1", yes);
  }
  env = request({{"HTTPS", "1"}, {"HTTP_X_HTTPS", "false"}});
  apply_trusted_proxy_rules({bits({"X-HTTPS"}), proxies}, "10.0.0.1", env);
  BOOST_TEST(!env.has("HTTPS"));
}

BOOST_AUTO_TEST_CASE(every_peer_trusted_without_proxy_list) {
  auto env = request({{"HTTP_X_FORWARDED_FOR", "203.0.113.7, 10.0.0.1"}, {"HTTP_X_CLIENT_IP", "1.1.1.1"}});
  apply_trusted_proxy_rules({bits({"X-Forwarded-For"}), {}}, "192.0.2.55", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "203.0.113.7");
  BOOST_TEST(env.at("HTTP_X_FORWARDED_FOR") == "203.0.113.7, 10.0.0.1");
  BOOST_TEST(!env.has("HTTP_X_CLIENT_IP"));
}

BOOST_AUTO_TEST_CASE(ipv6_peer_and_mapped_peer) {
  auto proxies = networks({"2001:db8::/32", "127.0.0.1"});
  auto env = request({{"HTTP_X_REAL_IP", "2001:db9::7"}});
  apply_trusted_proxy_rules({bits({"X-Real-IP"}), proxies}, "2001:db8::1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "2001:db9::7");
  env = request({{"HTTP_X_REAL_IP", "203.0.113.9"}});
  apply_trusted_proxy_rules({bits({"X-Real-IP"}), proxies}, "::ffff:127.0.0.1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "203.0.113.9");
  env = request({{"HTTP_X_REAL_IP", "203.0.113.9"}});
  apply_trusted_proxy_rules({bits({"X-Real-IP"}), proxies}, "2001:db9::1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "10.0.0.1");
  BOOST_TEST(!env.has("HTTP_X_REAL_IP"));
}

BOOST_AUTO_TEST_CASE(listed_but_absent_header) {
  auto proxies = networks({"10.0.0.1"});
  auto env = request({{"HTTP_X_CLIENT_IP", "203.0.113.8"}});
  apply_trusted_proxy_rules({bits({"X-Forwarded-For"}), proxies}, "10.0.0.1", env);
  BOOST_TEST(env.at("REMOTE_ADDR") == "10.0.0.1");
  BOOST_TEST(!env.has("HTTP_X_CLIENT_IP"));  // not the trusted header of its purpose
}

BOOST_AUTO_TEST_SUITE_END()
