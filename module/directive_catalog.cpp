// The directive catalog (see directive_catalog.hpp) and `apache2 -t -D DUMP_WSGI_DIRECTIVES`.
#include "directive_catalog.hpp"

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>

#include <cstdio>
#include <string>

#include "directives.hpp"
#include "gantry/daemon_options.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"

namespace gantry::module {
namespace {

constexpr const char* kBoth = "4.9, 6.0";
constexpr const char* kSix = "6.0";

// One entry per directive of the table, in any order. `why` matters while a directive is
// inert or refused; when its table entry becomes `implemented`, the doc shows `why` if it
// is not empty (what Gantry's version does beyond the description), else the directive's
// own description.
constexpr DirectiveNote kNotes[] = {
    {"WSGIScriptAlias", kBoth, ""},
    {"WSGIScriptAliasMatch", kBoth, ""},
    {"WSGICallableObject", kBoth, ""},
    {"WSGIImportScript", kBoth, ""},
    {"WSGIScriptReloading", kBoth, ""},
    {"WSGIApplicationGroup", kBoth, ""},
    {"WSGIProcessGroup", kBoth, ""},
    {"WSGIDaemonProcess", kBoth, ""},
    {"WSGISocketPrefix", kBoth, ""},
    {"WSGIRestrictEmbedded", kBoth, ""},
    {"WSGILazyInitialization", "4.9 (removed in 6.0)", ""},
    {"WSGIRestrictProcess", kBoth, ""},
    {"WSGIAcceptMutex", kBoth,
     "Chooses how mod_wsgi's daemon processes take turns to accept(). Gantry's daemon threads "
     "wait in epoll on the shared listener and the kernel hands each connection to one of "
     "them: there is no accept mutex to choose."},
    {"WSGISocketRotation", kBoth,
     "Off makes mod_wsgi reuse daemon socket names across restarts. Gantry always names the "
     "sockets per parent pid and configuration generation (as mod_wsgi's default, On); "
     "only the file name differs, never what reaches an application."},
    {"WSGIDestroyInterpreter", kBoth, ""},
    {"WSGIIgnoreActivity", kBoth, ""},
    {"WSGIServerMetrics", kBoth, ""},  // implemented: its description says it
    {"WSGIPythonHome", kBoth, ""},
    {"WSGIPythonPath", kBoth, ""},
    {"WSGIPythonOptimize", kBoth, ""},
    {"WSGIPythonEggs", kBoth,
     "Sets PYTHON_EGG_CACHE for setuptools' long-obsolete zipped eggs (pkg_resources "
     "extraction); Python 3.11 applications do not use it. python-eggs= on "
     "WSGIDaemonProcess still sets it for a daemon group."},
    {"WSGIPythonHashSeed", kBoth, ""},
    {"WSGIPythonWarnings", kBoth, ""},
    {"WSGIDontWriteBytecode", kBoth, ""},
    {"WSGISwitchInterval", kSix, ""},
    {"WSGIRestrictStdin", kBoth, ""},
    {"WSGIRestrictStdout", kBoth, ""},
    {"WSGIRestrictSignal", kBoth, ""},
    {"WSGICaseSensitivity", kBoth,
     "Tells mod_wsgi whether to lower-case script paths before naming their modules (for "
     "case-insensitive file systems: Windows, macOS). Gantry runs on Linux, where paths are "
     "case-sensitive, which is the directive's default there."},
    {"WSGIVerboseDebugging", "4.9 (no effect from 6.0)",
     "Extra debug logging in mod_wsgi; mod_wsgi 6 ignores it too. Use LogLevel wsgi:debug."},
    {"WSGINewRelicConfigFile", "4.9 (removed in 6.0)",
     "Started the New Relic agent inside mod_wsgi; mod_wsgi 6 dropped it. Start the agent from "
     "the WSGI script (newrelic.agent.initialize)."},
    {"WSGINewRelicEnvironment", "4.9 (removed in 6.0)",
     "As WSGINewRelicConfigFile: the agent's environment, given to initialize() instead."},
    {"WSGIPassAuthorization", kBoth, ""},
    {"WSGIChunkedRequest", kBoth, ""},
    {"WSGIMapHEADToGET", kBoth, ""},
    {"WSGIEnableSendfile", kBoth, ""},
    {"WSGIErrorOverride", kBoth, ""},
    {"WSGIPassApacheRequest", kBoth,
     "Puts an apache.request_rec capsule in the environ for C extensions built against "
     "mod_wsgi's headers; pure-Python applications never see it. Gantry has no such "
     "object to pass."},
    {"WSGITrustedProxyHeaders", kBoth, ""},
    {"WSGITrustedProxies", kBoth, ""},
    {"WSGIHandlerScript", kBoth, ""},
    {"WSGIDispatchScript", kBoth, ""},
    {"WSGIAccessScript", kBoth,
     "Host access script: allow_access(environ, host), False is 403 (docs/auth.md). Also "
     "process-group=NAME: the check runs in that daemon group."},
    {"WSGIAuthUserScript", kBoth,
     "The `wsgi` authn provider for AuthBasicProvider/AuthDigestProvider: check_password(), "
     "get_realm_hash() (docs/auth.md). Also process-group=NAME."},
    {"WSGIAuthGroupScript", kBoth,
     "`Require wsgi-group NAME...` through groups_for_user() (docs/auth.md). Also "
     "process-group=NAME."},
    {"WSGIGroupAuthoritative", kBoth,
     "Validated, not consulted: under Apache 2.4, `<RequireAny>`/`<RequireAll>` decide how a "
     "wsgi-group denial combines with other Require lines, and wsgi-group never grants a user "
     "outside its groups either way, so this cannot open access (docs/auth.md)."},
    {"WSGIPerInterpreterGIL", kSix,
     "A GIL per sub-interpreter needs Python 3.12 (PEP 684); Gantry embeds 3.11, where "
     "mod_wsgi 6 too accepts it with a warning and no effect. Sub-interpreters share the GIL, "
     "as without the directive."},
    {"WSGIFreeThreading", kSix,
     "Needs a free-threaded Python build (3.13t); Debian's 3.11 has a GIL, where mod_wsgi 6 "
     "too accepts it with a warning and no effect."},
    {"WSGISlowRequests", kSix,
     "Feeds mod_wsgi 6's external telemetry stream (WSGITelemetryService), which Gantry does "
     "not produce; requests are served the same either way."},
    {"WSGITelemetryService", kSix,
     "Sends metrics datagrams to mod_wsgi 6's telemetry ingester; Gantry does not send them. "
     "Monitoring only: no effect on requests. Validated as mod_wsgi 6 does."},
    {"WSGITelemetryOptions", kSix, "Options of that telemetry stream; as WSGITelemetryService."},
    {"<WSGIInterpreterOptions", kSix,
     "Refused (GANTRY0031): its per-interpreter settings (own GIL, switch interval, python "
     "path) have no per-interpreter form with Python 3.11, and ignoring them would run the "
     "application with settings other than those written. Use server-level directives or a "
     "WSGIDaemonProcess group of its own."},
};

const char* status_text(Support support) {
  switch (support) {
    case Support::implemented: return "implemented";
    case Support::stored_only:
    case Support::inert: return "accepted, no effect (GANTRY0020)";
    case Support::refused: return "refused (error at `apachectl -t`)";
  }
  return "?";
}

std::string display_name(std::string_view name) {
  return name.front() == '<' ? std::string(name) + ">" : std::string(name);
}

}  // namespace

const DirectiveNote* directive_note(std::string_view name) {
  for (const auto& note : kNotes)
    if (name == note.name) return &note;
  return nullptr;
}

std::string directives_markdown() {
  std::string out =
      "| Directive | mod_wsgi | Gantry | What it does, or why having no effect is safe |\n"
      "|---|---|---|---|\n";
  for (const DirectiveInfo& info : directive_infos()) {
    const DirectiveNote* note = directive_note(info.name);
    // A directive without an effect must say why that is safe; the doc test looks for this.
    // An implemented directive shows its own description, or its note where it has one.
    const char* text = info.support == Support::implemented && note && *note->why ? note->why : info.doc;
    if (info.support != Support::implemented)
      text = note && *note->why ? note->why
                                : "MISSING: why having no effect is safe (module/directive_catalog.cpp)";
    out += "| `" + display_name(info.name) + "` | " +
           (note ? note->mod_wsgi : "MISSING (module/directive_catalog.cpp)") + " | " +
           status_text(info.support) + " | " + text + " |\n";
  }
  return out;
}

}  // namespace gantry::module

// apache2 -t -D DUMP_WSGI_DIRECTIVES (like -D DUMP_MODULES): the generated tables of
// docs/directives.md and docs/daemon-options.md on stdout, each after a marker line.
extern "C" void gantry_test_config(apr_pool_t*, server_rec* s) {
  gantry::module::run_guarded_void(s, "test_config", [&] {
    if (!ap_exists_config_define("DUMP_WSGI_DIRECTIVES")) return;
    const std::string text = "<!-- directives -->\n" + gantry::module::directives_markdown() +
                             "<!-- daemon-options -->\n" + gantry::daemon_options_markdown();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
}
