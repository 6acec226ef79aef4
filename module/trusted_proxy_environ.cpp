#include "trusted_proxy_environ.hpp"

#include <apr_strings.h>
#include <apr_tables.h>
#include <http_ssl.h>

#include <span>
#include <string>

#include "gantry/trusted_proxy.hpp"

namespace gantry::module {
namespace {

// EnvironEdit over an apr_table_t (keys and values copied into the request pool).
class TableEnviron final : public proxy::EnvironEdit {
 public:
  TableEnviron(apr_pool_t* pool, apr_table_t* table) : pool_(pool), table_(table) {}
  std::optional<std::string_view> get(std::string_view key) const override {
    const char* value = apr_table_get(table_, std::string(key).c_str());
    if (!value) return std::nullopt;
    return std::string_view(value);
  }
  void set(std::string_view key, std::string_view value) override {
    apr_table_setn(table_, copy(key), copy(value));
  }
  void unset(std::string_view key) override { apr_table_unset(table_, std::string(key).c_str()); }

 private:
  const char* copy(std::string_view s) const { return apr_pstrmemdup(pool_, s.data(), s.size()); }
  apr_pool_t* pool_;
  apr_table_t* table_;
};

}  // namespace

void apply_trusted_proxy_rules(request_rec* r, const DirConfig& dir) {
  proxy::TrustedProxyRules rules;
  rules.headers = dir.trusted_proxy_headers;
  if (const apr_array_header_t* list = dir.trusted_proxies) {
    rules.proxies = std::span<const proxy::IpNetwork>(reinterpret_cast<const proxy::IpNetwork*>(list->elts),
                                                      static_cast<std::size_t>(list->nelts));
  }
  // The address Apache reports as REMOTE_ADDR (mod_remoteip may already have replaced the
  // connection's peer with the one its own trusted proxy named).
  const char* peer = r->useragent_ip ? r->useragent_ip : "";
  TableEnviron environ(r->pool, r->subprocess_env);
  proxy::apply_trusted_proxy_rules(rules, peer, environ);
  // A request that reached Apache itself over TLS stays https whatever a proxy header says
  // (mod_wsgi checks the connection after the proxy headers too).
  if (ap_ssl_conn_is_ssl(r->connection)) apr_table_setn(r->subprocess_env, "HTTPS", "on");
}

}  // namespace gantry::module
