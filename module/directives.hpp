#pragma once
// The directive table: every mod_wsgi 4.9 directive, declared once as data (name, where it
// may appear, argument form, one-line doc, whether Gantry implements it). The command_rec
// array Apache reads is generated from it. Directives Gantry parses but does not act on
// yet are recorded and warned about once per start-up (see lifecycle.cpp).
#include <httpd.h>
#include <http_config.h>

#include <span>

namespace gantry::module {

// implemented: acts as mod_wsgi documents. inert: accepted (and validated) but no effect,
// warned about at start-up (GANTRY0020); docs/directives.md says why that is safe.
// refused: a configuration error naming the reason and the alternative.
enum class Support { implemented, stored_only, inert, refused };

struct DirectiveInfo {
  const char* name;
  Support support;
  const char* doc;
};

// For documentation and tests: every directive with its support level.
std::span<const DirectiveInfo> directive_infos();

}  // namespace gantry::module
