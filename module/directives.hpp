#pragma once
// The directive table: every mod_wsgi 4.9 directive, declared once as data (name, where it
// may appear, argument form, one-line doc, whether Gantry implements it). The command_rec
// array Apache reads is generated from it. Directives Gantry parses but does not act on
// yet are recorded and warned about once per start-up (see lifecycle.cpp).
#include <httpd.h>
#include <http_config.h>

#include <span>

namespace gantry::module {

// implemented: acts as mod_wsgi documents. stored_only / inert: accepted (and validated),
// no effect; inert ones are warned about at start-up (GANTRY0020) and docs/directives.md
// says why that is safe. refused: a configuration error naming the reason and what to write
// instead - a directive that guards access (authentication, authorisation, access control)
// that Gantry does not enforce (accepting it would fail open), or one whose settings Gantry
// cannot honour.
enum class Support { implemented, stored_only, inert, refused };

struct DirectiveInfo {
  const char* name;
  Support support;
  const char* doc;
};

// For documentation and tests: every directive with its support level.
std::span<const DirectiveInfo> directive_infos();

}  // namespace gantry::module
