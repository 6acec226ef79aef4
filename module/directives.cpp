// Every mod_wsgi directive, as data, and what each one does to the configuration.
//
// Apache calls one trampoline (run_directive) for every entry; it finds the spec through
// cmd->info, checks the context, runs the spec's setter and turns a thrown ConfigError
// (or anything else) into the error string Apache prints for `apachectl -t`. Messages name
// the directive, the offending value and the accepted form.
#include "directives.hpp"

#include <apr_strings.h>
#include <http_core.h>
#include <http_main.h>

#include <array>
#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "directive_args.hpp"
#include "gantry/config_error.hpp"
#include "gantry/directive_words.hpp"
#include "gantry/value_parse.hpp"
#include "gantry_hooks.h"
#include "group_names.hpp"
#include "script_directives.hpp"

namespace gantry::module {
namespace {

// The ids shared with the other setters are in directive_args.hpp.
constexpr const char* kAccessNotEnforced = "GANTRY0401";

// Where a directive may appear. `global_only` directives are RSRC_CONF but refused inside
// <VirtualHost>, as mod_wsgi does.
enum class Where { global_only, server, server_or_dir, file_info, auth_config };

int req_override(Where where) {
  switch (where) {
    case Where::global_only:
    case Where::server:
      return RSRC_CONF;
    case Where::server_or_dir:
      return RSRC_CONF | ACCESS_CONF;
    case Where::file_info:
      return OR_FILEINFO;
    case Where::auth_config:
      return OR_AUTHCFG;
  }
  return RSRC_CONF;
}

struct DirectiveSpec;

// What a setter sees.
struct Context {
  cmd_parms* cmd;
  DirConfig* dir;
  const char* arg;  // TAKE1: the argument; RAW_ARGS: the unparsed rest of the line
  const DirectiveSpec& spec;

  GlobalConfig& global() const { return *server_config(cmd->server)->global; }
  // `id` is the GANTRY id of the cause (see docs/log-messages.md).
  [[noreturn]] void fail(const char* id, const std::string& message) const;
  Flag on_off() const;
  // The arguments split as mod_wsgi splits them (gantry/directive_words.hpp): the first
  // `positional` words as Apache reads any word, the rest as name=value options whose value
  // may be quoted. Broken quoting is a config error.
  std::vector<const char*> words(std::size_t positional = kAllPositional) const;
  const char* copy(std::string_view text) const {
    return apr_pstrmemdup(cmd->pool, text.data(), text.size());
  }
  // Inert directives are remembered for the start-up warning. Only while reading the main
  // configuration: .htaccess files are parsed per request, long after start-up.
  void note_inert() const;
};

using Setter = void (*)(const Context&);

struct DirectiveSpec {
  const char* name;
  cmd_how how;  // TAKE1 or RAW_ARGS
  Where where;
  Support support;
  const char* doc;
  Setter set;
};

void Context::fail(const char* id, const std::string& message) const {
  directive_fail(id, spec.name, message);
}

Flag Context::on_off() const {
  if (!strcasecmp(arg, "On")) return Flag::on;
  if (!strcasecmp(arg, "Off")) return Flag::off;
  fail(kBadValue, std::string("invalid value '") + arg + "'; accepted: On or Off");
}

std::vector<const char*> Context::words(std::size_t positional) const {
  return directive_words(cmd->pool, spec.name, arg, positional);
}

void Context::note_inert() const {
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_RUN_MPM) return;
  global().note_inert(spec.name);
}

// "name=value" option split; returns false if `word` does not start with `name=`.
// ---- Script directives: leading words, then name=value options -------------------------
//
// WSGIScriptAlias(Match), WSGIImportScript, WSGIHandlerScript, WSGIDispatchScript and the
// auth scripts all read their options here, so quoting (`process-group='g'`), checking
// and messages are the same for each.

enum ScriptOption : unsigned {
  kProcessGroupOption = 1u << 0,       // process-group=NAME
  kApplicationGroupOption = 1u << 1,   // application-group=NAME
  kCallableObjectOption = 1u << 2,     // callable-object=NAME
  kPassAuthorizationOption = 1u << 3,  // pass-authorization=On|Off
};

struct ScriptDirective {
  std::vector<const char*> leading;          // the positional words (URL, path, name, ...)
  const char* process_group = nullptr;       // unresolved (%{...} kept), checked
  const char* application_group = nullptr;   // unresolved, checked
  const char* callable_object = nullptr;
  Flag pass_authorization = Flag::unset;
};

struct ScriptOptionName {
  ScriptOption option;
  std::string_view name;
  const char* form;
};
constexpr ScriptOptionName kScriptOptions[] = {
    {kProcessGroupOption, "process-group", "process-group=NAME"},
    {kApplicationGroupOption, "application-group", "application-group=NAME"},
    {kCallableObjectOption, "callable-object", "callable-object=NAME"},
    {kPassAuthorizationOption, "pass-authorization", "pass-authorization=On|Off"},
};

std::string accepted_script_options(unsigned accepted) {
  std::string text;
  for (const auto& known : kScriptOptions) {
    if (!(accepted & known.option)) continue;
    if (!text.empty()) text += ", ";
    text += known.form;
  }
  return text.empty() ? "none" : text;
}

// Reads `leading` positional words (all required; `usage` shows the syntax when some are
// missing), then only the options in `accepted` (a ScriptOption mask), each at most once.
ScriptDirective parse_script_directive(const Context& c, std::size_t leading, unsigned accepted,
                                       const char* usage) {
  const auto words = c.words(leading);
  if (words.size() < leading) c.fail(kMissingArgument, std::string("missing arguments; usage: ") + usage);
  ScriptDirective out;
  out.leading.assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(leading));
  unsigned seen = 0;
  for (std::size_t i = leading; i < words.size(); ++i) {
    std::string_view name, value_view;
    const ScriptOptionName* known = nullptr;
    if (split_option_word(words[i], &name, &value_view))
      for (const auto& candidate : kScriptOptions)
        if (candidate.name == name && (accepted & candidate.option)) known = &candidate;
    if (!known)
      c.fail(kUnknownOption, std::string("unknown option '") + words[i] + "'; accepted: " +
             accepted_script_options(accepted));
    if (seen & known->option)
      c.fail(kBadValue, std::string("option ") + std::string(name) + "= is given more than once; give it once");
    seen |= known->option;
    const char* value = words[i] + name.size() + 1;
    switch (known->option) {
      case kProcessGroupOption:
        out.process_group = checked_group(c.spec.name, "process group", value);
        break;
      case kApplicationGroupOption:
        out.application_group = checked_group(c.spec.name, "application group", value);
        break;
      case kCallableObjectOption:
        if (!*value) c.fail(kBadValue, "empty callable-object= value");
        out.callable_object = value;
        break;
      case kPassAuthorizationOption:
        if (!strcasecmp(value, "On")) out.pass_authorization = Flag::on;
        else if (!strcasecmp(value, "Off")) out.pass_authorization = Flag::off;
        else c.fail(kBadValue, std::string("invalid pass-authorization value '") + value + "'; accepted: On or Off");
        break;
    }
  }
  return out;
}

// ---- WSGIScriptAlias / WSGIScriptAliasMatch --------------------------------------------

void add_script_alias(const Context& c, bool is_regex) {
  const std::string usage = std::string(c.spec.name) + (is_regex ? " REGEX" : " URL-PATH") +
                            " FILE|DIRECTORY/ [process-group=NAME] [application-group=NAME]"
                            " [callable-object=NAME] [pass-authorization=On|Off]";
  const ScriptDirective parsed = parse_script_directive(
      c, 2, kProcessGroupOption | kApplicationGroupOption | kCallableObjectOption | kPassAuthorizationOption,
      usage.c_str());
  auto* alias = static_cast<ScriptAlias*>(apr_pcalloc(c.cmd->pool, sizeof(ScriptAlias)));
  new (alias) ScriptAlias();
  alias->location = parsed.leading[0];
  alias->target = parsed.leading[1];
  if (!*alias->target) c.fail(kMissingArgument, "empty script path; give an absolute file or directory/ path");
  alias->process_group = parsed.process_group;
  alias->application_group = parsed.application_group;
  alias->callable_object = parsed.callable_object;
  alias->pass_authorization = parsed.pass_authorization;
  if (is_regex) {
    alias->regex = ap_pregcomp(c.cmd->pool, alias->location, AP_REG_EXTENDED);
    if (!alias->regex)
      c.fail(kBadRegex, std::string("cannot compile regular expression '") + alias->location +
             "'; expected a POSIX extended regex such as ^/app(/.*)?$");
  } else if (alias->location[0] != '/') {
    c.fail(kBadUrlPath, std::string("URL path '") + alias->location + "' must start with '/'");
  }
  auto* config = server_config(c.cmd->server);
  *static_cast<ScriptAlias**>(apr_array_push(config->aliases)) = alias;

  // mod_wsgi preloads a script alias that names both its process and application group:
  // the (process, interpreter) pair is known without a request.
  const bool target_is_file = alias->target[strlen(alias->target) - 1] != '/';
  if (alias->process_group && alias->application_group && target_is_file &&
      !strchr(alias->target, '$')) {
    PreloadScript preload;
    preload.script = alias->target;
    preload.process_group = group_is_global(alias->process_group) ? "" : alias->process_group;
    preload.application_group = alias->application_group;
    if (alias->callable_object) preload.callable = alias->callable_object;
    preload.mount_point = alias->location;
    while (!preload.mount_point.empty() && preload.mount_point.back() == '/') preload.mount_point.pop_back();
    preload.server = c.cmd->server;
    c.global().preloads.push_back(std::move(preload));
  }
}

// ---- WSGIImportScript ------------------------------------------------------------------

void add_import_script(const Context& c) {
  const ScriptDirective parsed =
      parse_script_directive(c, 1, kProcessGroupOption | kApplicationGroupOption,
                             "WSGIImportScript FILE process-group=NAME application-group=NAME");
  const char* process_group = parsed.process_group;
  const char* application_group = parsed.application_group;
  if (!process_group || !application_group)
    c.fail(kMissingArgument, "both process-group= and application-group= are required (use %{GLOBAL} for"
           " embedded mode / the main interpreter)");
  PreloadScript preload;
  preload.script = parsed.leading[0];
  if (!group_is_global(process_group)) {
    if (!c.global().find_daemon_group(process_group))
      c.fail(kUndefinedGroup, std::string("process group '") + process_group +
             "' is not defined yet; declare it with WSGIDaemonProcess before this line,"
             " or use process-group=%{GLOBAL}");
    preload.process_group = process_group;
  }
  preload.application_group = application_group;
  preload.server = c.cmd->server;
  c.global().preloads.push_back(std::move(preload));
}

// ---- WSGIDaemonProcess -----------------------------------------------------------------

void add_daemon_process(const Context& c) {
  const auto words = c.words(1);
  if (words.empty())
    c.fail(kMissingArgument, "requires a group name: WSGIDaemonProcess NAME [option=value ...]");
  DaemonGroupDecl group;
  group.name = words[0];
  group.server = c.cmd->server;
  for (std::size_t i = 1; i < words.size(); ++i) group.args.emplace_back(words[i]);
  if (c.global().find_daemon_group(group.name))
    c.fail(kDuplicateGroup, "group name '" + group.name + "' is already declared by an earlier WSGIDaemonProcess");
#if GANTRY_HAVE_DAEMON_OPTIONS
  // A ConfigError from here already names its GANTRY id, directive and option.
  group.options = gantry::parse_daemon_process(group.name, group.args);
#endif
  c.global().daemon_groups.push_back(std::move(group));
}

// ---- small setters ---------------------------------------------------------------------

void set_python_optimize(const Context& c) {
  std::string_view v(c.arg);
  if (v != "0" && v != "1" && v != "2")
    c.fail(kBadValue, std::string("invalid level '") + c.arg + "'; accepted: 0, 1 or 2");
  c.global().python.optimize = v[0] - '0';
}

void set_python_path(const Context& c) {
  // Last one wins, as in mod_wsgi; the value is a ':'-separated list.
  auto& path = c.global().python.python_path;
  path.clear();
  std::string_view rest(c.arg);
  while (!rest.empty()) {
    auto colon = rest.find(':');
    auto part = rest.substr(0, colon);
    if (!part.empty()) path.emplace_back(part);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
}

void set_map_head_to_get(const Context& c) {
  if (!strcasecmp(c.arg, "Off")) c.dir->map_head_to_get = HeadMapping::off;
  else if (!strcasecmp(c.arg, "On")) c.dir->map_head_to_get = HeadMapping::on;
  else if (!strcasecmp(c.arg, "Auto")) c.dir->map_head_to_get = HeadMapping::automatic;
  else c.fail(kBadValue, std::string("invalid value '") + c.arg + "'; accepted: On, Off or Auto");
}

void set_socket_prefix(const Context& c) {
  const char* resolved = ap_server_root_relative(c.cmd->pool, c.arg);
  if (!resolved) c.fail(kBadValue, std::string("invalid path '") + c.arg + "'");
  c.global().socket_prefix = resolved;
}

void set_accept_mutex(const Context& c) {
  static constexpr std::array<const char*, 6> kMechanisms = {"default", "flock",    "fcntl",
                                                             "sysvsem", "posixsem", "pthread"};
  for (const char* m : kMechanisms)
    if (!strcasecmp(c.arg, m)) return c.note_inert();
  c.fail(kBadValue, std::string("invalid mechanism '") + c.arg +
         "'; accepted: default, flock, fcntl, sysvsem, posixsem or pthread");
}

void set_python_hash_seed(const Context& c) {
  std::string_view v(c.arg);
  unsigned long long seed = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seed);
  if (v == "random") {
    c.global().python.hash_seed = -1;
    return;
  }
  if (ec != std::errc() || end != v.data() + v.size() || seed > 4294967295ULL)
    c.fail(kBadValue, std::string("invalid value '") + c.arg + "'; accepted: random or an integer 0-4294967295");
  c.global().python.hash_seed = static_cast<long long>(seed);
}

// WSGISwitchInterval SECONDS (mod_wsgi 6): sys.setswitchinterval() in embedded mode;
// daemon groups take switch-interval= instead.
void set_switch_interval(const Context& c) {
  // The same rules as WSGIDaemonProcess switch-interval=, from its option table entry.
  const gantry::OptionSpec& rules = *gantry::find_daemon_option("switch-interval");
  const auto seconds = gantry::parse_decimal_option(rules, c.arg);
  if (!seconds)
    c.fail(kBadValue, std::string("invalid value '") + c.arg + "'; accepted: " + gantry::describe_accepted(rules));
  c.global().python.switch_interval = *seconds;
}

// An On/Off directive Gantry does not act on yet: still validated.
void inert_on_off(const Context& c) {
  c.on_off();
  c.note_inert();
}

void inert(const Context& c) { c.note_inert(); }

// WSGIRestrictProcess group-1 group-2 ...: checked per request (handler.cpp), because the
// group a request selects may come from %{ENV:...} or a .htaccess file.
void set_restrict_process(const Context& c) {
  const std::vector<const char*> names = c.words();
  if (names.empty()) c.fail(kMissingArgument, "needs at least one process group name");
  auto* list = apr_array_make(c.cmd->pool, static_cast<int>(names.size()), sizeof(const char*));
  for (const char* name : names) *static_cast<const char**>(apr_array_push(list)) = name;
  c.dir->restrict_process = list;
}

// WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript FILE [application-group=NAME]
// [process-group=NAME]. process-group= is Gantry's: the check runs in that daemon group.
const AuthScript* auth_script(const Context& c) {
  const auto words = c.words();
  if (words.empty() || !*words[0])
    c.fail(kMissingArgument, std::string("requires a script path: ") + c.spec.name +
           " FILE [application-group=NAME] [process-group=NAME]");
  auto* script = new (apr_pcalloc(c.cmd->pool, sizeof(AuthScript))) AuthScript();
  script->path = words[0];
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (!group_option(c.spec.name, words[i], &script->process_group, &script->application_group))
      c.fail(kUnknownOption, std::string("unknown option '") + words[i] +
             "'; accepted: application-group=NAME, process-group=NAME");
  }
  if (script->process_group && group_is_global(script->process_group)) script->process_group = nullptr;
  if (script->process_group && !c.global().find_daemon_group(script->process_group))
    c.fail(kUndefinedGroup, std::string("process group '") + script->process_group +
           "' is not defined yet; declare it with WSGIDaemonProcess before this line");
  return script;
}

// ---- mod_wsgi 6 directives without an effect in this design ---------------------------
// (docs/directives.md, generated from module/directive_catalog.cpp, says why each is safe.)

// WSGISlowRequests SECONDS: a non-negative threshold.
void inert_slow_requests(const Context& c) {
  if (!gantry::parse_decimal(c.arg))
    c.fail(kBadValue, std::string("invalid threshold '") + c.arg + "'; accepted: a number of seconds such as 2.0");
  c.note_inert();
}

// WSGITelemetryService unix:/path [interval=SECONDS >= 0.5]
void inert_telemetry_service(const Context& c) {
  const auto words = c.words();
  if (words.empty() || words.size() > 2 || std::string_view(words[0]).substr(0, 6) != "unix:/")
    c.fail(kBadValue, "expected: WSGITelemetryService unix:/path/to/socket [interval=SECONDS]");
  if (words.size() == 2) {
    const char* value = option_value(words[1], "interval");
    const auto interval = value ? gantry::parse_decimal(value) : std::nullopt;
    if (!interval || *interval < 0.5)
      c.fail(kBadValue, std::string("invalid option '") + words[1] + "'; accepted: interval=SECONDS, at least 0.5");
  }
  c.note_inert();
}

// WSGITelemetryOptions None | All | [+|-]CaptureUserAgent ...
void inert_telemetry_options(const Context& c) {
  const auto words = c.words();
  if (words.empty()) c.fail(kMissingArgument, "expected None, All or +/-CaptureUserAgent");
  for (const char* word : words) {
    const std::string_view w(word);
    const bool absolute = !strcasecmp(word, "None") || !strcasecmp(word, "All");
    const bool flag = (w.front() == '+' || w.front() == '-') && !strcasecmp(word + 1, "CaptureUserAgent");
    if ((!absolute && !flag) || (absolute && words.size() > 1))
      c.fail(kBadValue, std::string("invalid value '") + word +
             "'; accepted: None, All, or +CaptureUserAgent / -CaptureUserAgent (not mixed with None/All)");
  }
  c.note_inert();
}

// <WSGIInterpreterOptions ...>: refused (docs/directives.md).
void refuse_interpreter_options(const Context& c) {
  c.fail("GANTRY0031",
         "mod_wsgi 6's per-interpreter container is not supported: Gantry runs Python 3.11, which "
         "has no per-interpreter GIL or switch interval, and takes python-path per process. Put "
         "WSGIPythonPath / WSGISwitchInterval at server level, or give the application its own "
         "WSGIDaemonProcess group with python-path= / switch-interval=");
}

// ---- the table -------------------------------------------------------------------------

// clang-format off
constexpr DirectiveSpec kDirectives[] = {
  // Mapping URLs to scripts.
  {"WSGIScriptAlias", RAW_ARGS, Where::server, Support::implemented,
   "Map location to target WSGI script file.",
   [](const Context& c) { add_script_alias(c, false); }},
  {"WSGIScriptAliasMatch", RAW_ARGS, Where::server, Support::implemented,
   "Map location pattern to target WSGI script file.",
   [](const Context& c) { add_script_alias(c, true); }},
  {"WSGICallableObject", TAKE1, Where::file_info, Support::implemented,
   "Name of entry point in WSGI script file.",
   [](const Context& c) {
     if (auto problem = group_spec_problem(c.arg); !problem.empty())
       c.fail(kBadValue, std::string("invalid value '") + c.arg + "': " + problem);
     c.dir->callable_object = c.arg;
   }},
  {"WSGIImportScript", RAW_ARGS, Where::server, Support::implemented,
   "Location of WSGI import script.", add_import_script},
  {"WSGIScriptReloading", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable script reloading mechanism.",
   [](const Context& c) { c.dir->script_reloading = c.on_off(); }},

  // Process model.
  {"WSGIApplicationGroup", TAKE1, Where::server_or_dir, Support::implemented,
   "Application interpreter group.",
   [](const Context& c) {
     c.dir->application_group = checked_group(c.spec.name, "application group", c.arg);
   }},
  {"WSGIProcessGroup", TAKE1, Where::server_or_dir, Support::implemented,
   "Name of the WSGI process group.",
   [](const Context& c) {
     c.dir->process_group = checked_group(c.spec.name, "process group", c.arg);
   }},
  {"WSGIDaemonProcess", RAW_ARGS, Where::server, Support::implemented,
   "Specify details of daemon processes to start.", add_daemon_process},
  {"WSGISocketPrefix", TAKE1, Where::global_only, Support::implemented,
   "Path prefix for the daemon process sockets.", set_socket_prefix},
  {"WSGIRestrictEmbedded", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable use of embedded mode.",
   [](const Context& c) { c.global().restrict_embedded = c.on_off(); }},
  {"WSGILazyInitialization", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable lazy Python initialization.",
   [](const Context& c) { c.global().lazy_initialization = c.on_off(); }},
  {"WSGIRestrictProcess", RAW_ARGS, Where::server_or_dir, Support::implemented,
   "Limit selectable WSGI process groups.", set_restrict_process},
  {"WSGIAcceptMutex", TAKE1, Where::global_only, Support::inert,
   "Set accept mutex type for daemon processes.", set_accept_mutex},
  {"WSGISocketRotation", TAKE1, Where::global_only, Support::inert,
   "Enable/Disable rotation of daemon process sockets.", inert_on_off},
  {"WSGIDestroyInterpreter", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable destruction of Python interpreter.",
   [](const Context& c) { c.global().python.destroy_interpreter = c.on_off() == Flag::on; }},
  {"WSGIIgnoreActivity", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable reset of inactivity timeout.",
   [](const Context& c) { c.dir->ignore_activity = c.on_off(); }},
  {"WSGIServerMetrics", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable access to server metrics.",
   [](const Context& c) { c.global().server_metrics = c.on_off(); }},

  // Python environment.
  {"WSGIPythonHome", TAKE1, Where::global_only, Support::implemented,
   "Python prefix/exec_prefix absolute path names.",
   [](const Context& c) { c.global().python.python_home = c.arg; }},
  {"WSGIPythonPath", TAKE1, Where::global_only, Support::implemented,
   "Python module search path.", set_python_path},
  {"WSGIPythonOptimize", TAKE1, Where::global_only, Support::implemented,
   "Set level of Python compiler optimisations.", set_python_optimize},
  {"WSGIPythonEggs", TAKE1, Where::global_only, Support::inert,
   "Python eggs cache directory.", inert},
  {"WSGIPythonHashSeed", TAKE1, Where::global_only, Support::implemented,
   "Python hash seed.", set_python_hash_seed},
  {"WSGIPythonWarnings", TAKE1, Where::global_only, Support::implemented,
   "Control Python warning messages.",
   [](const Context& c) { c.global().python.warn_options.emplace_back(c.arg); }},
  {"WSGIDontWriteBytecode", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable writing of byte code.",
   [](const Context& c) { c.global().python.dont_write_bytecode = c.on_off() == Flag::on; }},
  {"WSGISwitchInterval", TAKE1, Where::global_only, Support::implemented,
   "Python GIL switch interval in seconds (mod_wsgi 6).", set_switch_interval},
  {"WSGIRestrictStdin", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable restrictions on use of STDIN.",
   [](const Context& c) { c.global().python.restrict_stdin = c.on_off() == Flag::on; }},
  {"WSGIRestrictStdout", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable restrictions on use of STDOUT.",
   [](const Context& c) { c.global().python.restrict_stdout = c.on_off() == Flag::on; }},
  {"WSGIRestrictSignal", TAKE1, Where::global_only, Support::implemented,
   "Enable/Disable restrictions on use of signal().",
   [](const Context& c) { c.global().python.restrict_signal = c.on_off() == Flag::on; }},
  {"WSGICaseSensitivity", TAKE1, Where::global_only, Support::inert,
   "Define whether file system is case sensitive.", inert_on_off},
  {"WSGIVerboseDebugging", TAKE1, Where::global_only, Support::inert,
   "Enable/Disable verbose debugging messages.", inert_on_off},
  {"WSGINewRelicConfigFile", TAKE1, Where::global_only, Support::inert,
   "New Relic monitoring agent configuration file.", inert},
  {"WSGINewRelicEnvironment", TAKE1, Where::global_only, Support::inert,
   "New Relic monitoring agent environment.", inert},

  // Request handling.
  {"WSGIPassAuthorization", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable WSGI authorization.",
   [](const Context& c) { c.dir->pass_authorization = c.on_off(); }},
  {"WSGIChunkedRequest", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable support for chunked requests.",
   [](const Context& c) { c.dir->chunked_request = c.on_off(); }},
  {"WSGIMapHEADToGET", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable mapping of HEAD to GET.", set_map_head_to_get},
  {"WSGIEnableSendfile", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable support for kernel sendfile.",
   [](const Context& c) { c.dir->enable_sendfile = c.on_off(); }},
  {"WSGIErrorOverride", TAKE1, Where::file_info, Support::implemented,
   "Enable/Disable overriding of error pages.",
   [](const Context& c) { c.dir->error_override = c.on_off(); }},
  {"WSGIPassApacheRequest", TAKE1, Where::server_or_dir, Support::inert,
   "Enable/Disable Apache request object.", inert_on_off},
  {"WSGITrustedProxyHeaders", RAW_ARGS, Where::file_info, Support::implemented,
   "Specify a list of trusted proxy headers.",
   [](const Context& c) { set_trusted_proxy_headers(c.cmd, c.dir, c.arg); }},
  {"WSGITrustedProxies", RAW_ARGS, Where::file_info, Support::implemented,
   "Specify a list of trusted proxies.",
   [](const Context& c) { set_trusted_proxies(c.cmd, c.dir, c.arg); }},
  {"WSGIHandlerScript", RAW_ARGS, Where::server_or_dir, Support::implemented,
   "Location of WSGI handler script file.",
   [](const Context& c) { add_handler_script(c.cmd, c.dir, c.arg); }},
  {"WSGIDispatchScript", RAW_ARGS, Where::server_or_dir, Support::implemented,
   "Location of WSGI dispatch script.",
   [](const Context& c) { set_dispatch_script(c.cmd, c.dir, c.arg); }},

  // Authentication and access control.
  {"WSGIAccessScript", RAW_ARGS, Where::auth_config, Support::implemented,
   "Location of WSGI host access script file.",
   [](const Context& c) { c.dir->access_script = auth_script(c); }},
  {"WSGIAuthUserScript", RAW_ARGS, Where::auth_config, Support::implemented,
   "Location of WSGI user auth script file.",
   [](const Context& c) { c.dir->auth_user_script = auth_script(c); }},
  {"WSGIAuthGroupScript", RAW_ARGS, Where::auth_config, Support::implemented,
   "Location of WSGI group auth script file.",
   [](const Context& c) { c.dir->auth_group_script = auth_script(c); }},
  {"WSGIGroupAuthoritative", TAKE1, Where::auth_config, Support::implemented,
   "Enable/Disable as being authoritative on groups.",
   [](const Context& c) { c.dir->group_authoritative = c.on_off(); }},

  // mod_wsgi 6 only.
  {"WSGIPerInterpreterGIL", TAKE1, Where::global_only, Support::inert,
   "Enable/Disable a GIL of their own for sub-interpreters.", inert_on_off},
  {"WSGIFreeThreading", TAKE1, Where::global_only, Support::inert,
   "Enable/Disable free-threaded Python (GIL disabled).", inert_on_off},
  {"WSGISlowRequests", TAKE1, Where::global_only, Support::inert,
   "Threshold for slow-request telemetry records.", inert_slow_requests},
  {"WSGITelemetryService", RAW_ARGS, Where::global_only, Support::inert,
   "Socket of the external telemetry ingester.", inert_telemetry_service},
  {"WSGITelemetryOptions", RAW_ARGS, Where::global_only, Support::inert,
   "Optional captures for the telemetry stream.", inert_telemetry_options},
  {"<WSGIInterpreterOptions", RAW_ARGS, Where::global_only, Support::refused,
   "Container for per-interpreter settings.", refuse_interpreter_options},
};
// clang-format on

constexpr std::size_t kDirectiveCount = std::size(kDirectives);

// ---- nothing that guards access may fail open ------------------------------------------

// Every directive whose purpose is authentication, authorisation or access control. Each
// must be implemented or refused (never inert/stored_only), and every directive Apache
// lets .htaccess use under AllowOverride AuthConfig must be listed here: a new access
// directive cannot be added to the table as "accepted, no effect" without the build failing.
constexpr std::string_view kAccessDirectives[] = {
    "WSGIAccessScript", "WSGIAuthUserScript", "WSGIAuthGroupScript", "WSGIGroupAuthoritative",
};

constexpr bool is_access_directive(std::string_view name) {
  for (std::string_view listed : kAccessDirectives)
    if (listed == name) return true;
  return false;
}

constexpr bool access_directives_fail_closed() {
  for (const DirectiveSpec& spec : kDirectives) {
    const bool access = is_access_directive(spec.name);
    if (spec.where == Where::auth_config && !access) return false;
    if (access && spec.support != Support::implemented && spec.support != Support::refused) return false;
  }
  for (std::string_view listed : kAccessDirectives) {
    bool found = false;
    for (const DirectiveSpec& spec : kDirectives) found = found || listed == spec.name;
    if (!found) return false;
  }
  return true;
}
static_assert(access_directives_fail_closed(),
              "an access-control directive is accepted without being enforced (see kAccessDirectives)");

[[noreturn]] void refuse_unenforced(const Context& c) {
  c.fail(kAccessNotEnforced,
         "controls who may access the site, and this Gantry build does not enforce it; the"
         " configuration is refused rather than served without the check - protect the location"
         " with Apache's own Require/Auth* directives instead, or remove the line");
}

const char* run_directive(cmd_parms* cmd, void* mconfig, const char* arg) {
  const auto& spec = *static_cast<const DirectiveSpec*>(cmd->info);
  try {
    if (spec.where == Where::global_only) {
      if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
    }
    const Context context{cmd, static_cast<DirConfig*>(mconfig), arg, spec};
    // Other refused directives (<WSGIInterpreterOptions>) say why in their own setter.
    if (spec.support == Support::refused && is_access_directive(spec.name)) refuse_unenforced(context);
    spec.set(context);
    return nullptr;
  } catch (const std::exception& e) {
    return apr_pstrdup(cmd->pool, e.what());
  } catch (...) {
    return apr_pstrcat(cmd->pool, "GANTRY0016: ", spec.name, ": internal error while parsing", nullptr);
  }
}

std::array<DirectiveInfo, kDirectiveCount> make_infos() {
  std::array<DirectiveInfo, kDirectiveCount> infos{};
  for (std::size_t i = 0; i < kDirectiveCount; ++i)
    infos[i] = {kDirectives[i].name, kDirectives[i].support, kDirectives[i].doc};
  return infos;
}

}  // namespace

std::span<const DirectiveInfo> directive_infos() {
  static const auto infos = make_infos();
  return infos;
}

}  // namespace gantry::module

using gantry::module::kDirectiveCount;
using gantry::module::kDirectives;

namespace {

std::array<command_rec, kDirectiveCount + 1> make_command_table() {
  std::array<command_rec, kDirectiveCount + 1> table{};
  for (std::size_t i = 0; i < kDirectiveCount; ++i) {
    const auto& spec = kDirectives[i];
    command_rec& rec = table[i];
    rec.name = spec.name;
    // Both TAKE1 and RAW_ARGS callbacks have the (cmd, mconfig, const char*) shape.
    rec.func = reinterpret_cast<cmd_func>(
        reinterpret_cast<void (*)()>(&gantry::module::run_directive));
    rec.cmd_data = const_cast<gantry::module::DirectiveSpec*>(&spec);
    rec.req_override = gantry::module::req_override(spec.where);
    rec.args_how = spec.how;
    rec.errmsg = spec.doc;
  }
  return table;  // the last entry stays zeroed: the terminator Apache looks for
}

}  // namespace

// Filled when the DSO is loaded (dynamic initialisation), before Apache reads a directive.
extern "C" command_rec gantry_commands[kDirectiveCount + 1];
command_rec gantry_commands[kDirectiveCount + 1];
static const bool gantry_commands_filled = [] {
  const auto table = make_command_table();
  for (std::size_t i = 0; i < table.size(); ++i) gantry_commands[i] = table[i];
  return true;
}();
