#pragma once
// Gantry's configuration model, as Apache sees it.
//
//   DirConfig     per-directory settings (directives allowed in <Directory>, <Location>,
//                 .htaccess, and at server/vhost level, where Apache stores them in the
//                 server's default per-dir config). Plain data: Apache creates and merges
//                 these per request in r->pool, so no destructors and no heap.
//   ServerConfig  per server/vhost: the script aliases. Plain data too.
//   GlobalConfig  one per configuration pass (lives in pconf): process-wide settings
//                 (WSGIPython*, WSGIRestrict*, daemon groups, import scripts). A C++
//                 object, destroyed by a pconf cleanup before Apache unloads the DSO.
//
// Nothing here is kept in statics: Apache reads the configuration twice and unloads the
// DSO in between, and a graceful restart makes a fresh pconf.
#include <httpd.h>
#include <http_config.h>
#include <ap_regex.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gantry/python_api.hpp"

#if __has_include("gantry/daemon_options.hpp")
#include "gantry/daemon_options.hpp"
#define GANTRY_HAVE_DAEMON_OPTIONS 1
#else
#define GANTRY_HAVE_DAEMON_OPTIONS 0
#endif

namespace gantry::module {

// An On/Off directive value that may be unset, so merging can tell "not said" from "Off".
enum class Flag : signed char { unset = -1, off = 0, on = 1 };

// WSGIMapHEADToGET.
enum class HeadMapping : signed char { unset = -1, off = 0, on = 1, automatic = 2 };

inline bool flag_value(Flag f, bool default_value) {
  return f == Flag::unset ? default_value : f == Flag::on;
}

// A script named by WSGIDispatchScript or WSGIHandlerScript, with its options (pool data).
struct ScriptFileConf {
  const char* handler_name = nullptr;       // WSGIHandlerScript NAME; null for a dispatch script
  const char* script = nullptr;             // absolute path
  const char* process_group = nullptr;      // process-group= (handler scripts only), unresolved
  const char* application_group = nullptr;  // application-group=, unresolved
  Flag pass_authorization = Flag::unset;    // pass-authorization= (handler scripts only)
};

// WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript: the script and where it
// runs (module/auth_providers.cpp).
struct AuthScript {
  const char* path = nullptr;
  const char* application_group = nullptr;  // application-group=, unresolved; null = %{GLOBAL}
  const char* process_group = nullptr;      // process-group= (Gantry only); null = embedded
};

struct DirConfig {
  const char* process_group = nullptr;      // WSGIProcessGroup, unresolved (%{...} kept)
  const char* application_group = nullptr;  // WSGIApplicationGroup, unresolved
  const char* callable_object = nullptr;    // WSGICallableObject, unresolved
  Flag pass_authorization = Flag::unset;    // default Off
  Flag script_reloading = Flag::unset;      // default On
  Flag chunked_request = Flag::unset;       // default Off
  Flag enable_sendfile = Flag::unset;       // default Off
  Flag error_override = Flag::unset;        // default Off; daemon mode only
  Flag ignore_activity = Flag::unset;       // default Off; daemon inactivity-timeout
  HeadMapping map_head_to_get = HeadMapping::unset;  // default Auto
  // WSGIRestrictProcess: the process groups a request here may be delegated to (const
  // char*; "%{GLOBAL}" allows embedded); null = any.
  apr_array_header_t* restrict_process = nullptr;
  // WSGITrustedProxyHeaders: bits of gantry::proxy::proxy_headers(); 0 = none (unset).
  std::uint32_t trusted_proxy_headers = 0;
  // WSGITrustedProxies: of gantry::proxy::IpNetwork; null = every peer is trusted.
  apr_array_header_t* trusted_proxies = nullptr;
  // WSGIDispatchScript; null = none.
  const ScriptFileConf* dispatch_script = nullptr;
  // WSGIHandlerScript: of const ScriptFileConf*, this context's own first after merging.
  apr_array_header_t* handler_scripts = nullptr;
  const AuthScript* access_script = nullptr;      // WSGIAccessScript
  const AuthScript* auth_user_script = nullptr;   // WSGIAuthUserScript
  const AuthScript* auth_group_script = nullptr;  // WSGIAuthGroupScript
  Flag group_authoritative = Flag::unset;         // WSGIGroupAuthoritative (see auth_providers.cpp)
};

struct ScriptAlias {
  const char* location = nullptr;           // URL prefix, or the regex source
  const char* target = nullptr;             // script file, or directory ending in '/'
  ap_regex_t* regex = nullptr;              // set for WSGIScriptAliasMatch
  const char* process_group = nullptr;      // process-group= option, if given
  const char* application_group = nullptr;  // application-group= option, if given
  const char* callable_object = nullptr;    // callable-object= option, if given
  Flag pass_authorization = Flag::unset;    // pass-authorization= option, if given
};

struct GlobalConfig;

struct ServerConfig {
  apr_array_header_t* aliases = nullptr;  // of ScriptAlias*, vhost's own first after merge
  GlobalConfig* global = nullptr;          // the pass's process-wide settings
};

// A WSGIDaemonProcess line. Parsed by core (h4's parser) when available; kept raw too so
// errors and later dispatch can name it.
struct DaemonGroupDecl {
  std::string name;
  std::vector<std::string> args;
  server_rec* server = nullptr;  // where it was declared (vhost restriction)
#if GANTRY_HAVE_DAEMON_OPTIONS
  gantry::DaemonOptions options;
#endif
};

// WSGIImportScript, or a WSGIScriptAlias with both process-group= and application-group=.
struct PreloadScript {
  std::string script;
  std::string process_group;      // "" = embedded
  std::string application_group;  // unresolved (may hold %{SERVER} etc.)
  std::string callable = "application";
  std::string mount_point;  // the alias's URL path: SCRIPT_NAME for %{RESOURCE}
  server_rec* server = nullptr;
};

struct GlobalConfig {
  PythonSettings python;            // WSGIPythonHome/Path/Optimize, WSGIRestrictStd*
  Flag restrict_embedded = Flag::unset;      // default Off
  Flag lazy_initialization = Flag::unset;    // default On
  // WSGIServerMetrics. mod_wsgi 4.9.4 answers server_metrics() in Apache children unless it
  // is explicitly Off (its documented default Off does not apply when the directive is absent).
  Flag server_metrics = Flag::unset;
  std::string socket_prefix;                 // WSGISocketPrefix, resolved to an absolute path
  std::vector<DaemonGroupDecl> daemon_groups;
  std::vector<PreloadScript> preloads;
  // The first WSGIDispatchScript read ("" if none). A dispatch script runs in the Apache
  // children, so they start Python for it even with WSGIRestrictEmbedded On (as mod_wsgi).
  std::string dispatch_script;
  // Directives that were given but have no effect yet, in order of first use: warned once
  // per start-up in post_config.
  std::vector<std::string> inert_directives;

  bool restrict_embedded_on() const { return flag_value(restrict_embedded, false); }
  bool lazy_initialization_on() const { return flag_value(lazy_initialization, true); }
  const DaemonGroupDecl* find_daemon_group(std::string_view name) const;
  void note_inert(const char* directive);
};

// The pass's GlobalConfig, created on first use in `pconf`.
GlobalConfig& global_config(apr_pool_t* pconf);

// Module config accessors.
DirConfig* dir_config(ap_conf_vector_t* per_dir);
ServerConfig* server_config(server_rec* s);

}  // namespace gantry::module
