#pragma once
// What every directive setter shares (directives.cpp, script_directives.cpp): the ids of
// each kind of configuration mistake, the message form, the argument words as mod_wsgi
// splits them, and the checks of process-group= / application-group= values. One place,
// so that a mistake reads the same whichever directive it is made in.
#include <apr_pools.h>

#include <cstddef>
#include <string>
#include <vector>

#include "gantry/directive_words.hpp"

namespace gantry::module {

// One id per kind of configuration mistake (docs/log-messages.md).
inline constexpr const char* kBadValue = "GANTRY0003";
inline constexpr const char* kUnknownOption = "GANTRY0004";
inline constexpr const char* kMissingArgument = "GANTRY0005";
inline constexpr const char* kBadRegex = "GANTRY0006";
inline constexpr const char* kBadUrlPath = "GANTRY0007";
inline constexpr const char* kBadGroupName = "GANTRY0008";
inline constexpr const char* kUndefinedGroup = "GANTRY0009";
inline constexpr const char* kDuplicateGroup = "GANTRY0015";

// Throws gantry::ConfigError "ID: DIRECTIVE: MESSAGE" (what `apachectl -t` prints).
[[noreturn]] void directive_fail(const char* id, const char* directive, const std::string& message);

// The words of a directive's arguments, copied into `pool`: the first `positional` as Apache
// reads any word, the rest as name=value options whose value may be quoted
// (gantry/directive_words.hpp). Broken quoting is a ConfigError.
std::vector<const char*> directive_words(apr_pool_t* pool, const char* directive, const char* args,
                                         std::size_t positional = kAllPositional);

// `value` when it is a valid group name or %{...} form; otherwise a ConfigError (kBadGroupName)
// naming `what` ("process group", "application group").
const char* checked_group(const char* directive, const char* what, const char* value);

// process-group=NAME / application-group=NAME: checked and stored through the pointer for
// it; false if `word` is neither, or is the option whose pointer is null (not accepted).
bool group_option(const char* directive, const char* word, const char** process_group,
                  const char** application_group);

}  // namespace gantry::module
