#include "directive_args.hpp"

#include <apr_strings.h>

#include "gantry/config_error.hpp"
#include "group_names.hpp"

namespace gantry::module {

void directive_fail(const char* id, const char* directive, const std::string& message) {
  throw ConfigError(std::string(id) + ": " + directive + ": " + message);
}

std::vector<const char*> directive_words(apr_pool_t* pool, const char* directive, const char* args,
                                         std::size_t positional) {
  std::vector<const char*> out;
  for (const std::string& word : split_directive_words(directive, args, positional))
    out.push_back(apr_pstrmemdup(pool, word.data(), word.size()));
  return out;
}

const char* checked_group(const char* directive, const char* what, const char* value) {
  if (!*value) directive_fail(kBadGroupName, directive, std::string("empty ") + what + " name; give a name or %{GLOBAL}");
  if (auto problem = group_spec_problem(value); !problem.empty())
    directive_fail(kBadGroupName, directive, std::string("invalid ") + what + " '" + value + "': " + problem);
  return value;
}

bool group_option(const char* directive, const char* word, const char** process_group,
                  const char** application_group) {
  if (const char* value = option_value(word, "process-group"); value && process_group) {
    *process_group = checked_group(directive, "process group", value);
  } else if (const char* value = option_value(word, "application-group"); value && application_group) {
    *application_group = checked_group(directive, "application group", value);
  } else {
    return false;
  }
  return true;
}

}  // namespace gantry::module
