// Creation and merging of Gantry's per-directory and per-server configuration, and the
// per-pass GlobalConfig.
#include "config.hpp"

#include <apr_pools.h>
#include <apr_strings.h>

#include <new>

#include "gantry_hooks.h"
#include "apache_log.hpp"
#include "guard.hpp"

namespace gantry::module {
namespace {

constexpr const char* kGlobalKey = "gantry-module-global-config";

apr_status_t destroy_global(void* data) {
  static_cast<GlobalConfig*>(data)->~GlobalConfig();
  return APR_SUCCESS;
}

template <class T>
T pick(T add, T base) {
  return add ? add : base;
}

Flag pick(Flag add, Flag base) { return add != Flag::unset ? add : base; }
HeadMapping pick(HeadMapping add, HeadMapping base) {
  return add != HeadMapping::unset ? add : base;
}

}  // namespace

GlobalConfig& global_config(apr_pool_t* pconf) {
  void* existing = nullptr;
  apr_pool_userdata_get(&existing, kGlobalKey, pconf);
  if (existing) return *static_cast<GlobalConfig*>(existing);
  // Placement-new into pconf so the object dies with the pass; the cleanup runs before
  // mod_so's unload cleanup (registered earlier, run later), so our code is still mapped.
  void* memory = apr_palloc(pconf, sizeof(GlobalConfig));
  auto* global = new (memory) GlobalConfig();
  global->python.logger = &process_logger();
  apr_pool_userdata_setn(global, kGlobalKey, destroy_global, pconf);
  return *global;
}

const DaemonGroupDecl* GlobalConfig::find_daemon_group(std::string_view name) const {
  for (const auto& group : daemon_groups)
    if (group.name == name) return &group;
  return nullptr;
}

void GlobalConfig::note_inert(const char* directive) {
  for (const auto& seen : inert_directives)
    if (seen == directive) return;
  inert_directives.emplace_back(directive);
}

DirConfig* dir_config(ap_conf_vector_t* per_dir) {
  return static_cast<DirConfig*>(ap_get_module_config(per_dir, &wsgi_module));
}

ServerConfig* server_config(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &wsgi_module));
}

}  // namespace gantry::module

using namespace gantry::module;

extern "C" void* gantry_create_dir_config(apr_pool_t* p, char*) {
  // DirConfig is trivially destructible: pool memory is all it needs.
  return new (apr_palloc(p, sizeof(DirConfig))) DirConfig();
}

extern "C" void* gantry_merge_dir_config(apr_pool_t* p, void* base_v, void* add_v) {
  const auto* base = static_cast<const DirConfig*>(base_v);
  const auto* add = static_cast<const DirConfig*>(add_v);
  auto* merged = new (apr_palloc(p, sizeof(DirConfig))) DirConfig();
  merged->process_group = pick(add->process_group, base->process_group);
  merged->application_group = pick(add->application_group, base->application_group);
  merged->callable_object = pick(add->callable_object, base->callable_object);
  merged->pass_authorization = pick(add->pass_authorization, base->pass_authorization);
  merged->script_reloading = pick(add->script_reloading, base->script_reloading);
  merged->chunked_request = pick(add->chunked_request, base->chunked_request);
  merged->enable_sendfile = pick(add->enable_sendfile, base->enable_sendfile);
  merged->error_override = pick(add->error_override, base->error_override);
  merged->ignore_activity = pick(add->ignore_activity, base->ignore_activity);
  merged->map_head_to_get = pick(add->map_head_to_get, base->map_head_to_get);
  merged->restrict_process = pick(add->restrict_process, base->restrict_process);
  merged->trusted_proxy_headers = pick(add->trusted_proxy_headers, base->trusted_proxy_headers);
  merged->trusted_proxies = pick(add->trusted_proxies, base->trusted_proxies);
  merged->dispatch_script = pick(add->dispatch_script, base->dispatch_script);
  // Handler names accumulate down the tree; the nearer definition of a name wins (found first).
  if (add->handler_scripts && base->handler_scripts)
    merged->handler_scripts = apr_array_append(p, add->handler_scripts, base->handler_scripts);
  else
    merged->handler_scripts = pick(add->handler_scripts, base->handler_scripts);
  merged->access_script = pick(add->access_script, base->access_script);
  merged->auth_user_script = pick(add->auth_user_script, base->auth_user_script);
  merged->auth_group_script = pick(add->auth_group_script, base->auth_group_script);
  merged->group_authoritative = pick(add->group_authoritative, base->group_authoritative);
  return merged;
}

extern "C" void* gantry_create_server_config(apr_pool_t* p, server_rec* s) {
  return run_guarded<void*>(s, "create_server_config", nullptr, [&]() -> void* {
    auto* config = new (apr_palloc(p, sizeof(ServerConfig))) ServerConfig();
    config->aliases = apr_array_make(p, 4, sizeof(ScriptAlias*));
    config->global = &global_config(p);
    return config;
  });
}

extern "C" void* gantry_merge_server_config(apr_pool_t* p, void* base_v, void* add_v) {
  const auto* base = static_cast<const ServerConfig*>(base_v);
  const auto* add = static_cast<const ServerConfig*>(add_v);
  auto* merged = new (apr_palloc(p, sizeof(ServerConfig))) ServerConfig();
  // A vhost's own aliases are tried first, then the main server's (as mod_alias does).
  merged->aliases = apr_array_append(p, add->aliases, base->aliases);
  merged->global = add->global ? add->global : base->global;
  return merged;
}
