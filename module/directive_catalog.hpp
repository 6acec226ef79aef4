#pragma once
// What docs/directives.md says about every mod_wsgi directive: the status comes from the
// directive table (directives.cpp: implemented / accepted with no effect / refused), the
// mod_wsgi releases that have it and, for a directive Gantry does not act on, why that is
// safe come from the catalog in directive_catalog.cpp. `apache2 -t -D DUMP_WSGI_DIRECTIVES`
// prints the generated tables; scripts/directive-docs.py puts them into docs/directives.md
// and docs/daemon-options.md, and tests/integration/test_directive_docs.py fails when a
// doc and the code disagree.
#include <string>
#include <string_view>

namespace gantry::module {

struct DirectiveNote {
  const char* name;
  const char* mod_wsgi;  // the releases that have it: "4.9, 6.0", "4.9 (removed in 6.0)", "6.0"
  const char* why;       // inert/refused: why that is safe (or what to do); "" otherwise
};

// The catalog's entry for `name`; nullptr if it has none.
const DirectiveNote* directive_note(std::string_view name);

// The generated part of docs/directives.md: one Markdown table row per directive.
std::string directives_markdown();

}  // namespace gantry::module
