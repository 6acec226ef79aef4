#pragma once
// The directive table: every mod_wsgi 4.9 directive, declared once as data (name, where it
// may appear, argument form, one-line doc, whether Gantry implements it). The command_rec
// array Apache reads is generated from it. Directives Gantry parses but does not act on
// yet are recorded and warned about once per start-up (see lifecycle.cpp).
#include <httpd.h>
#include <http_config.h>

#include <span>

namespace gantry::module {

// implemented: has its effect. stored_only / inert: accepted, no effect (inert ones are
// warned about at start-up). refused: guards access (authentication, authorisation, access
// control) but Gantry does not enforce it, so it is a configuration error - an access rule
// that is accepted and silently not applied would fail open.
enum class Support { implemented, stored_only, inert, refused };

struct DirectiveInfo {
  const char* name;
  Support support;
  const char* doc;
};

// For documentation and tests: every directive with its support level.
std::span<const DirectiveInfo> directive_infos();

}  // namespace gantry::module
