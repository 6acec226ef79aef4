// fuzz_daemon_options: WSGIDaemonProcess as `apachectl -t` reads it - the directive's text
// split into words (directive_words.cpp: quotes around words and around option values)
// and the words parsed into DaemonOptions (daemon_options.cpp).
//
// Input: the directive's argument text, as written in httpd.conf after the directive name.
// Properties, beyond "no crash, no sanitizer report":
//   1. quoting round trip: each word, written back quoted ("..." with \\ and \"), splits to
//      the same word; an option word name=value written as name="value" does too;
//   2. a configuration error is a ConfigError whose message starts with its GANTRY id and
//      names the directive (what `apachectl -t` prints); nothing else escapes;
//   3. parsing the re-quoted words gives the same options, field by field;
//   4. every numeric option is accepted exactly when an independent reading of its value
//      (digits, optional sign or K/M/G/T suffix, 64-bit range) lands within the spec
//      table's bounds, and then holds exactly that value.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "gantry/daemon_options.hpp"
#include "gantry/directive_words.hpp"

using namespace gantry;

namespace {

constexpr std::string_view kDirective = "WSGIDaemonProcess";

std::string quoted(std::string_view word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + '"';
}

void check_config_error(const ConfigError& error) {
  const std::string_view message = error.what();
  FUZZ_CHECK(message.rfind("GANTRY0", 0) == 0, "a config error starts with its GANTRY id");
  FUZZ_CHECK(message.find(kDirective) != std::string_view::npos, "a config error names the directive");
}

std::optional<std::vector<std::string>> split(std::string_view text, std::size_t positional) {
  try {
    return split_directive_words(kDirective, text, positional);
  } catch (const ConfigError& error) {
    check_config_error(error);
    return std::nullopt;
  }
}

std::optional<DaemonOptions> parse(const std::vector<std::string>& words) {
  if (words.empty()) return std::nullopt;
  try {
    return parse_daemon_process(words[0], std::vector<std::string>(words.begin() + 1, words.end()));
  } catch (const ConfigError& error) {
    check_config_error(error);
    return std::nullopt;
  }
}

bool same_options(const DaemonOptions& a, const DaemonOptions& b) {
  if (a.name != b.name || a.given != b.given || a.multiprocess != b.multiprocess) return false;
  for (const OptionSpec& spec : daemon_option_specs()) {
    const bool same = std::visit([&](auto field) { return a.*field == b.*field; }, spec.field);
    if (!same) return false;
  }
  return true;
}

// The reference reading of a numeric value: nullopt if it is not a number of the kind.
std::optional<std::int64_t> reference_number(OptionKind kind, std::string_view text) {
  if (text.empty()) return std::nullopt;
  int shift = 0;
  if (kind == OptionKind::size) {
    switch (text.back() | 0x20) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
    }
    if (shift) text.remove_suffix(1);
  }
  const bool negative = kind != OptionKind::size && kind != OptionKind::octal && !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text[0] == '+' || text[0] == '-') return std::nullopt;
  std::uint64_t magnitude = 0;
  const int base = kind == OptionKind::octal ? 8 : 10;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), magnitude, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (magnitude > static_cast<std::uint64_t>(INT64_MAX) >> shift) return std::nullopt;
  const auto value = static_cast<std::int64_t>(magnitude << shift);
  return negative ? -value : value;
}

// Property 4 for one option word on its own.
void check_numeric_option(std::string_view word) {
  const std::size_t equals = word.find('=');
  if (equals == std::string_view::npos || equals == 0) return;
  const OptionSpec* spec = find_daemon_option(word.substr(0, equals));
  if (spec == nullptr) return;
  const OptionKind kind = spec->kind;
  if (kind != OptionKind::count && kind != OptionKind::seconds && kind != OptionKind::size &&
      kind != OptionKind::octal)
    return;
  const std::string_view value = word.substr(equals + 1);
  std::optional<std::int64_t> expected = reference_number(kind, value);
  if (kind == OptionKind::octal && expected && *expected > 0777777) expected.reset();
  if (expected && !(*expected == 0 && !spec->zero_means.empty()) && (*expected < spec->min || *expected > spec->max))
    expected.reset();
  const std::optional<DaemonOptions> got = parse({"g", std::string(word)});
  FUZZ_CHECK(got.has_value() == expected.has_value(),
             "a numeric option is accepted exactly when its value is a number within the table's bounds");
  if (!got || *expected == 0) return;  // 0 may be resolved to a default (header-buffer-size=0)
  const std::int64_t stored = std::visit(
      [&](auto field) -> std::int64_t {
        using T = std::decay_t<decltype(got.value().*field)>;
        if constexpr (std::is_same_v<T, std::int64_t>) return got.value().*field;
        else if constexpr (std::is_same_v<T, std::chrono::seconds>) return (got.value().*field).count();
        else return -1;
      },
      spec->field);
  FUZZ_CHECK(stored == *expected, "a numeric option holds the value its text says");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<std::vector<std::string>> words = split(text, 1);
  if (!words) return 0;

  // 1. Quoting round trip.
  std::string requoted;
  std::string option_quoted;
  for (std::size_t i = 0; i < words->size(); ++i) {
    const std::string& word = (*words)[i];
    requoted += quoted(word) + ' ';
    std::string_view name, value;
    const bool plain_name = split_option_word(word, &name, &value) &&
                            name.find_first_of(" \t\n\r\f\v\"'\\") == std::string_view::npos;
    option_quoted += (i > 0 && plain_name ? std::string(name) + '=' + quoted(value) : quoted(word)) + ' ';
  }
  const auto again = split(requoted, 1);
  FUZZ_CHECK(again && *again == *words, "quoted words split back to the same words");
  const auto again_options = split(option_quoted, 1);
  FUZZ_CHECK(again_options && *again_options == *words, "name=\"value\" splits back to name=value");

  // 2 and 3. The parse, and the parse of the re-quoted text.
  const std::optional<DaemonOptions> options = parse(*words);
  const std::optional<DaemonOptions> options_again = parse(*again);
  FUZZ_CHECK(options.has_value() == options_again.has_value(), "quoting does not change acceptance");
  if (options) FUZZ_CHECK(same_options(*options, *options_again), "quoting does not change the options");

  // 4. Each numeric option against the reference reading.
  for (std::size_t i = 1; i < words->size(); ++i) check_numeric_option((*words)[i]);
  return 0;
}
