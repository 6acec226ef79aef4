#pragma once
// Splitting a directive's argument text into words, the way Apache and mod_wsgi do.
//
// Apache's ap_getword_conf() splits at white space and honours quotes only around a whole
// word: "/srv/my site" is one word, `key="value"` keeps its quotes. mod_wsgi reads its
// `name=value` options itself: the name runs to the first '=', and the value after it is
// read like a word of its own, so `python-path="/srv/site"`, `display-name='%{GROUP}'` and
// `display-name="my app"` lose their quotes. Published configurations (Django's, Graphite's)
// rely on that, so Gantry splits words the same way:
//
//   - a word that starts with ' or " runs to the matching quote ("python-path=/a b" too);
//   - an option word (after the leading positional words) `name=` followed by a quote has
//     its value read up to the matching quote: python-path="/a b" -> python-path=/a b;
//   - inside quotes, \\ stands for \ and \" (or \') for the quote; other backslashes stay;
//     outside quotes \\ stands for \ (as in ap_getword_conf);
//   - "" is an empty word and name="" an empty value (the option parser decides if it is
//     allowed).
//
// Stricter than Apache, which silently reads an unterminated quote to the end of the line
// and splits "a"b into two words: both are configuration errors here (GANTRY0017,
// GANTRY0018), because either almost always means a quote went missing.
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace gantry {

inline constexpr std::size_t kAllPositional = std::numeric_limits<std::size_t>::max();

// `directive` only names the directive in the error message. The first `positional` words
// are read as Apache reads any word; later words are option words (name=value). Throws
// ConfigError (message starting with its GANTRY id and the directive) on broken quoting.
std::vector<std::string> split_directive_words(std::string_view directive, std::string_view text,
                                               std::size_t positional = kAllPositional);

// An option word split at its first '=': {"python-path", "/srv/site"}. False when `word`
// has no '=' or nothing before it.
bool split_option_word(std::string_view word, std::string_view* name, std::string_view* value);

// The value of option word `word` ("process-group=g" -> "g", pointing into `word`) when it
// is option `name`; null when it is another option or not an option word.
const char* option_value(const char* word, std::string_view name);

}  // namespace gantry
