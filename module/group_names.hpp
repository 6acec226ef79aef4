#pragma once
// Process-group, application-group and callable names as mod_wsgi spells them: a literal,
// or one of %{GLOBAL} (embedded mode / the main interpreter), %{SERVER}, %{RESOURCE},
// %{ENV:variable}. These helpers check the spelling at configuration time; the request
// side (request_environ.cpp) expands them.
#include <string>
#include <string_view>

namespace gantry::module {

inline constexpr std::string_view kGlobalGroup = "%{GLOBAL}";
inline constexpr std::string_view kServerGroup = "%{SERVER}";
inline constexpr std::string_view kResourceGroup = "%{RESOURCE}";
inline constexpr std::string_view kEnvPrefix = "%{ENV:";

inline bool group_is_global(std::string_view spec) { return spec == kGlobalGroup; }

// The variable name of a %{ENV:name} spec, or empty if `spec` is not one.
inline std::string_view env_variable(std::string_view spec) {
  if (spec.size() > kEnvPrefix.size() + 1 && spec.substr(0, kEnvPrefix.size()) == kEnvPrefix &&
      spec.back() == '}')
    return spec.substr(kEnvPrefix.size(), spec.size() - kEnvPrefix.size() - 1);
  return {};
}

// Empty if `spec` is acceptable; otherwise says what is wrong and what is accepted.
inline std::string group_spec_problem(std::string_view spec) {
  if (spec.substr(0, 2) != "%{") return {};
  if (spec == kGlobalGroup || spec == kServerGroup || spec == kResourceGroup) return {};
  if (!env_variable(spec).empty()) return {};
  return "unknown %{...} form; accepted: a plain name, %{GLOBAL}, %{SERVER}, %{RESOURCE}"
         " or %{ENV:variable}";
}

}  // namespace gantry::module
