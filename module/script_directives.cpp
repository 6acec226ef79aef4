// WSGITrustedProxyHeaders, WSGITrustedProxies, WSGIDispatchScript and WSGIHandlerScript:
// argument parsing and checks (the table entries live in directives.cpp).
#include "script_directives.hpp"

#include <apr_strings.h>
#include <http_core.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/config_error.hpp"
#include "gantry/directive_words.hpp"
#include "gantry/trusted_proxy.hpp"
#include "group_names.hpp"

namespace gantry::module {
namespace {

// The ids directives.cpp uses for the same kinds of mistake (docs/log-messages.md).
constexpr const char* kBadValue = "GANTRY0003";
constexpr const char* kUnknownOption = "GANTRY0004";
constexpr const char* kMissingArgument = "GANTRY0005";
constexpr const char* kBadGroupName = "GANTRY0008";

[[noreturn]] void fail(const char* id, const char* directive, const std::string& message) {
  throw ConfigError(std::string(id) + ": " + directive + ": " + message);
}

// The words of the directive's arguments, quoted option values unquoted as for every other
// mod_wsgi directive (gantry/directive_words.hpp): application-group='%{GLOBAL}' works here
// too. The first `positional` words are read as Apache reads any word.
std::vector<const char*> words(cmd_parms* cmd, const char* args,
                               std::size_t positional = kAllPositional) {
  std::vector<const char*> out;
  for (const std::string& word : split_directive_words(cmd->cmd->name, args, positional))
    out.push_back(apr_pstrmemdup(cmd->pool, word.data(), word.size()));
  return out;
}

// "name=value": the value if `word` is that option, else null.
const char* option(const char* word, std::string_view name) {
  std::string_view w(word);
  if (w.size() <= name.size() || w.substr(0, name.size()) != name || w[name.size()] != '=') return nullptr;
  return word + name.size() + 1;
}

const char* group_value(const char* directive, const char* what, const char* value) {
  if (!*value) fail(kBadGroupName, directive, std::string("empty ") + what + " name; give a name or %{GLOBAL}");
  if (auto problem = group_spec_problem(value); !problem.empty())
    fail(kBadGroupName, directive, std::string("invalid ") + what + " '" + value + "': " + problem);
  return value;
}

const char* absolute_script(cmd_parms* cmd, const char* directive, const char* path) {
  // mod_wsgi resolves a relative path against ServerRoot, as Apache does for its own files.
  const char* resolved = ap_server_root_relative(cmd->pool, path);
  if (!resolved) fail(kBadValue, directive, std::string("invalid script path '") + path + "'");
  return resolved;
}

}  // namespace

void set_trusted_proxy_headers(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto names = words(cmd, args);
  if (names.empty()) fail(kMissingArgument, directive, "needs at least one header name, e.g. X-Forwarded-For");
  for (const char* name : names) {
    const std::uint32_t bit = proxy::proxy_header_bit(name);
    if (!bit)
      fail(kBadValue, directive, std::string("unknown header '") + name +
           "' (it would never be trusted); accepted: " + proxy::proxy_header_names());
    dir->trusted_proxy_headers |= bit;  // repeated directives add up, as in mod_wsgi
  }
}

void set_trusted_proxies(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto specs = words(cmd, args);
  if (specs.empty()) fail(kMissingArgument, directive, "needs at least one address or network, e.g. 10.0.0.0/8");
  if (!dir->trusted_proxies) dir->trusted_proxies = apr_array_make(cmd->pool, 4, sizeof(proxy::IpNetwork));
  for (const char* spec : specs) {
    auto network = proxy::parse_network(spec);
    if (!network)
      fail(kBadValue, directive, std::string("invalid address '") + spec +
           "'; accepted: an IPv4 or IPv6 address, ADDRESS/BITS (10.0.0.0/8, 2001:db8::/32) or"
           " IPv4 ADDRESS/NETMASK");
    *static_cast<proxy::IpNetwork*>(apr_array_push(dir->trusted_proxies)) = *network;
  }
}

void set_dispatch_script(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto list = words(cmd, args, 1);
  if (list.empty()) fail(kMissingArgument, directive, "requires a script path: WSGIDispatchScript FILE [application-group=NAME]");
  auto* conf = static_cast<ScriptFileConf*>(apr_pcalloc(cmd->pool, sizeof(ScriptFileConf)));
  *conf = ScriptFileConf{};
  conf->script = absolute_script(cmd, directive, list[0]);
  for (std::size_t i = 1; i < list.size(); ++i) {
    if (const char* value = option(list[i], "application-group")) {
      conf->application_group = group_value(directive, "application group", value);
    } else {
      fail(kUnknownOption, directive, std::string("unknown option '") + list[i] + "'; accepted: application-group=NAME");
    }
  }
  dir->dispatch_script = conf;
  // Remembered so that Python starts in the Apache children even with WSGIRestrictEmbedded On.
  GlobalConfig& global = *server_config(cmd->server)->global;
  if (global.dispatch_script.empty()) global.dispatch_script = conf->script;
}

void add_handler_script(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto list = words(cmd, args, 2);
  if (list.size() < 2)
    fail(kMissingArgument, directive,
         "requires a handler name and a script path: WSGIHandlerScript NAME FILE [process-group=NAME]"
         " [application-group=NAME] [pass-authorization=On|Off]");
  auto* conf = static_cast<ScriptFileConf*>(apr_pcalloc(cmd->pool, sizeof(ScriptFileConf)));
  *conf = ScriptFileConf{};
  conf->handler_name = list[0];
  conf->script = absolute_script(cmd, directive, list[1]);
  for (std::size_t i = 2; i < list.size(); ++i) {
    if (const char* value = option(list[i], "process-group")) {
      conf->process_group = group_value(directive, "process group", value);
    } else if (const char* value = option(list[i], "application-group")) {
      conf->application_group = group_value(directive, "application group", value);
    } else if (const char* value = option(list[i], "pass-authorization")) {
      if (!strcasecmp(value, "On")) conf->pass_authorization = Flag::on;
      else if (!strcasecmp(value, "Off")) conf->pass_authorization = Flag::off;
      else fail(kBadValue, directive, std::string("invalid pass-authorization value '") + value + "'; accepted: On or Off");
    } else {
      fail(kUnknownOption, directive, std::string("unknown option '") + list[i] +
           "'; accepted: process-group=NAME, application-group=NAME, pass-authorization=On|Off");
    }
  }
  if (!dir->handler_scripts) dir->handler_scripts = apr_array_make(cmd->pool, 2, sizeof(const ScriptFileConf*));
  // Newest first: a later definition of the same name in the same context replaces it.
  *static_cast<const ScriptFileConf**>(apr_array_push(dir->handler_scripts)) = conf;
  auto** items = reinterpret_cast<const ScriptFileConf**>(dir->handler_scripts->elts);
  for (int i = dir->handler_scripts->nelts - 1; i > 0; --i) std::swap(items[i], items[i - 1]);
}

const ScriptFileConf* find_handler_script(const DirConfig& dir, const char* handler) {
  if (!dir.handler_scripts || !handler) return nullptr;
  const auto* const* items = reinterpret_cast<const ScriptFileConf* const*>(dir.handler_scripts->elts);
  for (int i = 0; i < dir.handler_scripts->nelts; ++i)
    if (!std::strcmp(items[i]->handler_name, handler)) return items[i];
  return nullptr;
}

}  // namespace gantry::module
