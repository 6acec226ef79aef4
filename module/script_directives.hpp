#pragma once
// The setters behind WSGITrustedProxyHeaders, WSGITrustedProxies, WSGIDispatchScript and
// WSGIHandlerScript (the directive table in directives.cpp calls them). Each parses the raw
// argument line into `dir` and throws gantry::ConfigError with a complete message (id,
// directive, value, accepted form) on a mistake.
#include <httpd.h>
#include <http_config.h>

#include "config.hpp"

namespace gantry::module {

void set_trusted_proxy_headers(cmd_parms* cmd, DirConfig* dir, const char* args);
void set_trusted_proxies(cmd_parms* cmd, DirConfig* dir, const char* args);
void set_dispatch_script(cmd_parms* cmd, DirConfig* dir, const char* args);
void add_handler_script(cmd_parms* cmd, DirConfig* dir, const char* args);

// The WSGIHandlerScript named `handler` that applies to a request, or null.
const ScriptFileConf* find_handler_script(const DirConfig& dir, const char* handler);

}  // namespace gantry::module
