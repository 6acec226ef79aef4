#include "script_alias.hpp"

#include <apr_strings.h>
#include <http_config.h>
#include <http_request.h>

#include <cstring>

#include "gantry_hooks.h"

namespace gantry::module {

std::size_t alias_match_length(const char* uri, const char* location) {
  const char* l = location;
  const char* u = uri;
  while (*l) {
    if (*l == '/') {
      if (*u != '/') return 0;
      while (*l == '/') ++l;
      while (*u == '/') ++u;
    } else if (*u++ != *l++) {
      return 0;
    }
  }
  // "/app" must not match "/application": the match has to end on a segment boundary.
  if (l[-1] != '/' && *u != '\0' && *u != '/') return 0;
  return static_cast<std::size_t>(u - uri);
}

namespace {

bool ends_with_slash(const char* s) {
  const std::size_t n = std::strlen(s);
  return n && s[n - 1] == '/';
}

// Joins the alias target and the unmatched rest of the URL. For a file target the rest
// becomes PATH_INFO (Apache's directory walk splits it off again), so it keeps a leading
// '/'; for a directory target it names a file inside the directory.
const char* join_target(apr_pool_t* p, const char* target, const char* rest) {
  if (ends_with_slash(target)) {
    while (*rest == '/') ++rest;
  }
  return apr_pstrcat(p, target, rest, nullptr);
}

}  // namespace

int translate_script_alias(request_rec* r) {
  if (r->proxyreq || !r->uri || r->uri[0] != '/') return DECLINED;
  const auto* config = server_config(r->server);
  if (!config || !config->aliases) return DECLINED;
  const auto* aliases = reinterpret_cast<ScriptAlias* const*>(config->aliases->elts);
  for (int i = 0; i < config->aliases->nelts; ++i) {
    const ScriptAlias* alias = aliases[i];
    const char* filename = nullptr;
    if (alias->regex) {
      ap_regmatch_t match[AP_MAX_REG_MATCH];
      if (ap_regexec(alias->regex, r->uri, AP_MAX_REG_MATCH, match, 0) != 0) continue;
      const char* target = ap_pregsub(r->pool, alias->target, r->uri, AP_MAX_REG_MATCH, match);
      if (!target) return HTTP_INTERNAL_SERVER_ERROR;  // substitution too long; Apache logged
      filename = join_target(r->pool, target, r->uri + match[0].rm_eo);
    } else {
      const std::size_t matched = alias_match_length(r->uri, alias->location);
      if (!matched) continue;
      const char* rest = r->uri + matched;
      // A location ending in '/' swallowed the slash that starts PATH_INFO: give it back.
      if (ends_with_slash(alias->location) && !ends_with_slash(alias->target)) rest -= 1;
      filename = join_target(r->pool, alias->target, rest);
    }
    r->filename = const_cast<char*>(filename);
    r->handler = kWsgiHandler;
    // Tells mod_mime not to replace the handler from the file extension (as ScriptAlias).
    apr_table_setn(r->notes, "alias-forced-type", r->handler);
    ap_set_module_config(r->request_config, &wsgi_module, const_cast<ScriptAlias*>(alias));
    return OK;
  }
  return DECLINED;
}

const ScriptAlias* request_script_alias(const request_rec* r) {
  return static_cast<const ScriptAlias*>(ap_get_module_config(r->request_config, &wsgi_module));
}

}  // namespace gantry::module
