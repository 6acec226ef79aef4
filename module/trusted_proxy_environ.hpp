#pragma once
// WSGITrustedProxyHeaders / WSGITrustedProxies applied to a request's environ
// (r->subprocess_env): the rules are core's (include/gantry/trusted_proxy.hpp), this is the
// Apache side. Both embedded and daemon mode send the environ built from that table, so
// one call covers both.
#include <httpd.h>

#include "config.hpp"

namespace gantry::module {

// The rules of `dir`, applied (WSGITrustedProxyHeaders must be set).
void apply_trusted_proxy_rules(request_rec* r, const DirConfig& dir);

// Call after the CGI variables are in r->subprocess_env, before the environ is copied out.
// Costs a single test when no WSGITrustedProxyHeaders applies to the request.
inline void apply_trusted_proxy_headers(request_rec* r, const DirConfig& dir) {
  if (dir.trusted_proxy_headers) apply_trusted_proxy_rules(r, dir);
}

}  // namespace gantry::module
