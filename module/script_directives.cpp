// WSGITrustedProxyHeaders, WSGITrustedProxies, WSGIDispatchScript and WSGIHandlerScript:
// argument parsing and checks (the table entries live in directives.cpp).
#include "script_directives.hpp"

#include <apr_strings.h>
#include <http_core.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "directive_args.hpp"
#include "gantry/directive_words.hpp"
#include "gantry/trusted_proxy.hpp"

namespace gantry::module {
namespace {

const char* absolute_script(cmd_parms* cmd, const char* directive, const char* path) {
  // mod_wsgi resolves a relative path against ServerRoot, as Apache does for its own files.
  const char* resolved = ap_server_root_relative(cmd->pool, path);
  if (!resolved) directive_fail(kBadValue, directive, std::string("invalid script path '") + path + "'");
  return resolved;
}

}  // namespace

void set_trusted_proxy_headers(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto names = directive_words(cmd->pool, directive, args);
  if (names.empty()) directive_fail(kMissingArgument, directive, "needs at least one header name, e.g. X-Forwarded-For");
  for (const char* name : names) {
    const std::uint32_t bit = proxy::proxy_header_bit(name);
    if (!bit)
      directive_fail(kBadValue, directive, std::string("unknown header '") + name +
                     "' (it would never be trusted); accepted: " + proxy::proxy_header_names());
    dir->trusted_proxy_headers |= bit;  // repeated directives add up, as in mod_wsgi
  }
}

void set_trusted_proxies(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto specs = directive_words(cmd->pool, directive, args);
  if (specs.empty()) directive_fail(kMissingArgument, directive, "needs at least one address or network, e.g. 10.0.0.0/8");
  if (!dir->trusted_proxies) dir->trusted_proxies = apr_array_make(cmd->pool, 4, sizeof(proxy::IpNetwork));
  for (const char* spec : specs) {
    auto network = proxy::parse_network(spec);
    if (!network)
      directive_fail(kBadValue, directive, std::string("invalid address '") + spec +
                     "'; accepted: an IPv4 or IPv6 address, ADDRESS/BITS (10.0.0.0/8, 2001:db8::/32) or"
                     " IPv4 ADDRESS/NETMASK");
    *static_cast<proxy::IpNetwork*>(apr_array_push(dir->trusted_proxies)) = *network;
  }
}

void set_dispatch_script(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto list = directive_words(cmd->pool, directive, args, 1);
  if (list.empty()) directive_fail(kMissingArgument, directive, "requires a script path: WSGIDispatchScript FILE [application-group=NAME]");
  auto* conf = static_cast<ScriptFileConf*>(apr_pcalloc(cmd->pool, sizeof(ScriptFileConf)));
  *conf = ScriptFileConf{};
  conf->script = absolute_script(cmd, directive, list[0]);
  for (std::size_t i = 1; i < list.size(); ++i) {
    if (!group_option(directive, list[i], nullptr, &conf->application_group))
      directive_fail(kUnknownOption, directive, std::string("unknown option '") + list[i] + "'; accepted: application-group=NAME");
  }
  dir->dispatch_script = conf;
  // Remembered so that Python starts in the Apache children even with WSGIRestrictEmbedded On.
  GlobalConfig& global = *server_config(cmd->server)->global;
  if (global.dispatch_script.empty()) global.dispatch_script = conf->script;
}

void add_handler_script(cmd_parms* cmd, DirConfig* dir, const char* args) {
  const char* directive = cmd->cmd->name;
  const auto list = directive_words(cmd->pool, directive, args, 2);
  if (list.size() < 2)
    directive_fail(kMissingArgument, directive,
                   "requires a handler name and a script path: WSGIHandlerScript NAME FILE [process-group=NAME]"
                   " [application-group=NAME] [pass-authorization=On|Off]");
  auto* conf = static_cast<ScriptFileConf*>(apr_pcalloc(cmd->pool, sizeof(ScriptFileConf)));
  *conf = ScriptFileConf{};
  conf->handler_name = list[0];
  conf->script = absolute_script(cmd, directive, list[1]);
  for (std::size_t i = 2; i < list.size(); ++i) {
    if (group_option(directive, list[i], &conf->process_group, &conf->application_group)) continue;
    if (const char* value = option_value(list[i], "pass-authorization")) {
      if (!strcasecmp(value, "On")) conf->pass_authorization = Flag::on;
      else if (!strcasecmp(value, "Off")) conf->pass_authorization = Flag::off;
      else directive_fail(kBadValue, directive, std::string("invalid pass-authorization value '") + value + "'; accepted: On or Off");
    } else {
      directive_fail(kUnknownOption, directive, std::string("unknown option '") + list[i] +
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
