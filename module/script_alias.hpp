#pragma once
// WSGIScriptAlias / WSGIScriptAliasMatch in the translate_name phase: like Alias, the
// matched URL becomes a file name, and the request is given to the wsgi-script handler.
#include <httpd.h>

#include "config.hpp"

namespace gantry::module {

inline constexpr const char* kWsgiHandler = "wsgi-script";
inline constexpr const char* kWsgiMimeHandler = "application/x-httpd-wsgi";

// translate_name: OK if a script alias mapped the request, DECLINED otherwise.
int translate_script_alias(request_rec* r);

// The alias that mapped this request, or null (mapped by SetHandler/AddHandler instead).
const ScriptAlias* request_script_alias(const request_rec* r);

// How many characters of `uri` an alias location consumes ("//" counts as "/"), or 0 if
// it does not match on a path-segment boundary. Same rule as Apache's Alias.
std::size_t alias_match_length(const char* uri, const char* location);

}  // namespace gantry::module
