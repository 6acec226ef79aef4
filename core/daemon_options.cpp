// WSGIDaemonProcess option table and parser (see daemon_options.hpp).
#include "gantry/daemon_options.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>

#include "gantry/value_parse.hpp"

namespace gantry {

namespace {

using K = OptionKind;
using D = DaemonOptions;

constexpr std::int64_t kOneYear = 365LL * 24 * 3600;   // upper bound of every timeout
constexpr std::int64_t kIntMax = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kHugeSize = std::int64_t{1} << 50;  // 1024T: "no practical limit"

// The one table. Defaults here are the documentation text; the initialisers in
// DaemonOptions are the values (a unit test checks they agree for every numeric option).
// Effective = Gantry acts on it today. Flip to true when the daemon implements one.
constexpr OptionSpec kSpecs[] = {
    // Process model.
    {"processes", K::count, 1, 1000, "", "1", true,
     "Daemon processes in the group. Giving it at all (even processes=1) makes wsgi.multiprocess true.",
     &D::processes},
    {"threads", K::count, 1, 10000, "", "15", true,
     "Request threads in each daemon process.", &D::threads},
    {"display-name", K::display_name, 0, 0, "", "(unchanged argv[0])", true,
     "Process name shown by ps; %{GROUP} means (wsgi:NAME). A spare of a recycling group shows"
     " NAME spare ((wsgi:GROUP) spare without display-name) until it takes over.",
     &D::display_name},
    // Identity and environment.
    {"user", K::account, 0, 0, "", "Apache's User", true,
     "User (name or #uid) the daemon runs as when Apache starts as root; never root.", &D::user},
    {"group", K::account, 0, 0, "", "Apache's Group", true,
     "Primary group (name or #gid) the daemon runs as when Apache starts as root.", &D::group},
    {"supplementary-groups", K::name_list, 0, 0, "", "(none)", true,
     "Extra groups for the daemon user, separated by ','.", &D::supplementary_groups},
    {"umask", K::octal, 0, 0777, "", "(inherited)", true,
     "File creation mask of the daemon processes, in octal.", &D::umask},
    {"home", K::path, 0, 0, "", "Apache's working directory; with user= (not Apache's User), that user's home", true,
     "Initial working directory of the daemon processes.", &D::home},
    {"chroot", K::path, 0, 0, "", "(none)", true,
     "Directory to chroot into before running the application (deprecated in mod_wsgi).",
     &D::chroot},
    {"lang", K::text, 0, 0, "", "(inherited)", true, "Value of LANG in the daemon.", &D::lang},
    {"locale", K::text, 0, 0, "", "(inherited)", true, "Value of LC_ALL in the daemon.",
     &D::locale},
    {"script-user", K::account, 0, 0, "", "(no check)", true,
     "Owner every WSGI script run in this group must have, else 403. Not with script-group.",
     &D::script_user},
    {"script-group", K::account, 0, 0, "", "(no check)", true,
     "Group every WSGI script run in this group must have, else 403. Not with script-user.",
     &D::script_group},
    {"socket-user", K::account, 0, 0, "", "Apache's User", true,
     "Owner of the daemon's listener socket (for mod_ruid2, ITK, PrivilegesMode SECURE).",
     &D::socket_user},
    // Python.
    {"python-home", K::path, 0, 0, "", "WSGIPythonHome", true,
     "sys.prefix of the Python (virtual environment) the daemon uses.", &D::python_home},
    {"python-path", K::path_list, 0, 0, "", "(none)", true,
     "Directories added with site.addsitedir(), separated by ':'.", &D::python_path},
    {"python-eggs", K::path, 0, 0, "", "(none)", true,
     "PYTHON_EGG_CACHE directory of the daemon.", &D::python_eggs},
    {"switch-interval", K::decimal, 0, 60, "", "Python's (0.005)", true,
     "sys.setswitchinterval() of the daemon's Python: how often a thread holding the GIL "
     "offers it to others (mod_wsgi 6; WSGISwitchInterval is the embedded-mode directive).",
     &D::switch_interval},
    {"preload", K::flag, 0, 0, "", "Off", true,
     "Gantry's own: import the group's WSGIImportScript scripts (and the WSGIScriptAlias scripts"
     " naming both process-group= and application-group=) once, in the group's template, then"
     " gc.freeze() and fork the processes from it, so they share the application's memory"
     " (docs/template.md).",
     &D::preload},
    // Threads, sockets, buffers.
    {"stack-size", K::size, 16384, std::int64_t{1} << 30, "", "system default", true,
     "Stack size of each request thread.", &D::stack_size},
    {"listen-backlog", K::count, 0, 65535, "", "100", true,
     "Backlog of the daemon's listener socket.", &D::listen_backlog},
    {"connect-timeout", K::seconds, 0, kOneYear, "", "15", true,
     "How long an Apache child keeps trying to connect to the daemon.", &D::connect_timeout},
    {"socket-timeout", K::seconds, 1, kOneYear, "Apache's Timeout", "Apache's Timeout", true,
     "Timeout of each read or write between an Apache child and the daemon.",
     &D::socket_timeout},
    {"queue-timeout", K::seconds, 0, kOneYear, "", "0 (no limit)", true,
     "A request that waited longer than this for a daemon thread gets 504.",
     &D::queue_timeout},
    {"response-socket-timeout", K::seconds, 1, kOneYear, "socket-timeout", "socket-timeout",
     true, "Timeout of a write to the HTTP client once the response buffer is full.",
     &D::response_socket_timeout},
    {"send-buffer-size", K::size, 512, kIntMax, "the system default", "system default", true,
     "SO_SNDBUF of the daemon socket (daemon to Apache).", &D::send_buffer_size},
    {"receive-buffer-size", K::size, 512, kIntMax, "the system default", "system default",
     true, "SO_RCVBUF of the daemon socket (Apache to daemon).", &D::receive_buffer_size},
    {"header-buffer-size", K::size, 8192, kIntMax, "the default 32768", "32768", true,
     "Largest single response header (name and value) accepted from the application.",
     &D::header_buffer_size},
    {"response-buffer-size", K::size, 65536, kIntMax, "the default 65536", "65536", true,
     "Response bytes passed on to the client without a flush: past it, the daemon flushes "
     "(a generator's blocks are flushed anyway). mod_wsgi 6.0.2 raised its default to 8M.",
     &D::response_buffer_size},
    {"response-flush-delay", K::decimal, 0, 60000, "flushing at once", "5", false,
     "Milliseconds mod_wsgi 6 waits, when the daemon socket runs dry, before flushing. No "
     "effect, safely: Gantry never flushes on a dry socket, only where the application "
     "ends a block (each block of a streamed response reaches the client at once).",
     &D::response_flush_delay},
    // Lifecycle and limits.
    {"maximum-requests", K::count, 0, kIntMax, "", "0 (unlimited)", true,
     "Requests a process serves before a graceful restart (its standby takes over at once).",
     &D::maximum_requests},
    {"inactivity-timeout", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "Restart a process that served requests and then had none in flight for this long, or "
     "whose requests in flight read and wrote nothing for this long.",
     &D::inactivity_timeout},
    {"request-timeout", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "Restart a process whose request has run this long (scaled by threads).",
     &D::request_timeout},
    {"interrupt-timeout", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "At request-timeout, first raise mod_wsgi.RequestTimeout in the stuck request (504); "
     "restart only if it has not ended this much later (mod_wsgi 6).",
     &D::interrupt_timeout},
    {"graceful-timeout", K::seconds, 0, kOneYear, "", "15", true,
     "Grace period for active requests before a triggered restart.", &D::graceful_timeout},
    {"eviction-timeout", K::seconds, 0, kOneYear, "", "0 (graceful-timeout)", true,
     "Grace period after a graceful restart signal (SIGUSR1).", &D::eviction_timeout},
    {"shutdown-timeout", K::seconds, 0, kOneYear, "", "5", true,
     "Time a stopping process gets before it is killed.", &D::shutdown_timeout},
    {"deadlock-timeout", K::seconds, 0, kOneYear, "", "300", true,
     "Restart a process whose GIL has been held this long.", &D::deadlock_timeout},
    {"startup-timeout", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "Restart a process whose first load of its WSGI script failed and no retry succeeded "
     "within this long.",
     &D::startup_timeout},
    {"restart-interval", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "Restart each process after it has run this long.", &D::restart_interval},
    {"cpu-time-limit", K::seconds, 0, kOneYear, "", "0 (off)", true,
     "Restart a process that used this much CPU time (SIGXCPU; killed shutdown-timeout later).",
     &D::cpu_time_limit},
    {"cpu-priority", K::count, -20, 20, "", "0", true, "Scheduling priority (nice value).",
     &D::cpu_priority},
    {"memory-limit", K::size, 0, kHugeSize, "", "0 (none)", true,
     "RLIMIT_DATA of the daemon processes.", &D::memory_limit},
    {"virtual-memory-limit", K::size, 0, kHugeSize, "", "0 (none)", true,
     "RLIMIT_AS of the daemon processes.", &D::virtual_memory_limit},
    {"server-metrics", K::flag, 0, 0, "", "Off", false,
     "Allow mod_wsgi.server_metrics() in this group. No effect, safely: in a daemon process "
     "Gantry's server_metrics() returns None (its daemons are forked before Apache's "
     "scoreboard exists); monitoring only, requests are served the same.",
     &D::server_metrics},
    {"newrelic-config-file", K::text, 0, 0, "", "(none)", false,
     "mod_wsgi 4.9 only (removed in 6.0): started the New Relic agent. No effect, safely: "
     "start the agent from the WSGI script instead.",
     &D::newrelic_config_file},
    {"newrelic-environment", K::text, 0, 0, "", "(none)", false,
     "mod_wsgi 4.9 only (removed in 6.0): the New Relic agent's environment; as "
     "newrelic-config-file.",
     &D::newrelic_environment},
    // Gantry's own.
    {"maximum-memory", K::size, 0, kHugeSize, "", "0 (off)", true,
     "Gantry: graceful restart of a process whose RSS exceeds this.", &D::maximum_memory},
    {"maximum-requests-jitter", K::count, 0, kIntMax, "", "0", true,
     "Gantry: add a random 0..N to maximum-requests per process, so processes do not all "
     "restart at once.",
     &D::maximum_requests_jitter},
    {"memory-growth-log", K::size, 0, kHugeSize, "", "32M", true,
     "Gantry: log a request during which the process's peak RSS grew by at least this; 0 = off.",
     &D::memory_growth_log},
};

std::string directive_prefix(std::string_view id, std::string_view name) {
  std::string out(id);
  out += ": WSGIDaemonProcess ";
  out += name;
  out += ": ";
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const char ca = static_cast<char>(a[i - 1] == '_' ? '-' : a[i - 1] | 0x20);
      const char cb = static_cast<char>(b[j - 1] | 0x20);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (ca == cb ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest known option name, if it is close enough to be a plausible typo.
std::string_view suggest(std::string_view unknown) {
  std::string_view best;
  std::size_t best_distance = 3;  // at most 2 edits (case and '_' for '-' are free)
  for (const auto& spec : kSpecs) {
    const std::size_t d = edit_distance(unknown, spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = spec.name;
    }
  }
  return best;
}

std::vector<std::string> split_nonempty(std::string_view text, char separator) {
  std::vector<std::string> parts;
  while (true) {
    const std::size_t at = text.find(separator);
    const std::string_view part = text.substr(0, at);
    if (!part.empty()) parts.emplace_back(part);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

bool valid_account(std::string_view value) {
  if (value.empty()) return false;
  if (value.front() == '#') return parse_whole_number(value.substr(1)).value_or(-1) >= 0;
  return true;
}

// Parses one value into `out`; returns false if it is not of the accepted form.
bool apply(const OptionSpec& spec, std::string_view group, std::string_view value,
           DaemonOptions& out) {
  // An empty path list (python-path="", as templated configs produce) adds nothing, as in
  // mod_wsgi; every other option needs a value.
  if (value.empty() && spec.kind != K::path_list) return false;
  switch (spec.kind) {
    case K::count:
    case K::seconds:
    case K::size:
    case K::octal: {
      std::optional<std::int64_t> number;
      if (spec.kind == K::size) number = parse_size(value);
      else if (spec.kind == K::octal) number = parse_octal(value);
      else number = parse_whole_number(value);
      if (!number) return false;
      const bool zero_ok = !spec.zero_means.empty() && *number == 0;
      if (!zero_ok && (*number < spec.min || *number > spec.max)) return false;
      if (spec.kind == K::seconds)
        out.*std::get<std::chrono::seconds D::*>(spec.field) = std::chrono::seconds(*number);
      else
        out.*std::get<std::int64_t D::*>(spec.field) = *number;
      return true;
    }
    case K::flag: {
      auto flag = parse_on_off(value);
      if (!flag) return false;
      out.*std::get<bool D::*>(spec.field) = *flag;
      return true;
    }
    case K::text:
      out.*std::get<std::string D::*>(spec.field) = std::string(value);
      return true;
    case K::path:
      if (value.front() != '/') return false;
      out.*std::get<std::string D::*>(spec.field) = std::string(value);
      return true;
    case K::path_list:
    case K::name_list: {
      auto parts = split_nonempty(value, spec.kind == K::path_list ? ':' : ',');
      if (parts.empty() && !value.empty()) return false;  // "::" is a mistake; "" is nothing
      if (parts.empty() && spec.kind == K::name_list) return false;
      if (spec.kind == K::name_list && !std::all_of(parts.begin(), parts.end(), valid_account))
        return false;
      out.*std::get<std::vector<std::string> D::*>(spec.field) = std::move(parts);
      return true;
    }
    case K::account:
      if (!valid_account(value)) return false;
      // mod_wsgi refuses to run application code as root; so do we. (A uid-0 account under
      // another name is caught by the module when it resolves the name.)
      if (spec.name == "user" && (value == "root" || value == "#0")) return false;
      out.*std::get<std::string D::*>(spec.field) = std::string(value);
      return true;
    case K::decimal: {
      auto number = parse_decimal_option(spec, value);
      if (!number) return false;
      out.*std::get<double D::*>(spec.field) = *number;
      return true;
    }
    case K::display_name:
      out.*std::get<std::string D::*>(spec.field) =
          value == "%{GROUP}" ? "(wsgi:" + std::string(group) + ")" : std::string(value);
      return true;
  }
  return false;
}

}  // namespace

bool DaemonOptions::was_given(std::string_view option) const {
  return std::find(given.begin(), given.end(), option) != given.end();
}

std::span<const OptionSpec> daemon_option_specs() { return kSpecs; }

const OptionSpec* find_daemon_option(std::string_view name) {
  for (const auto& spec : kSpecs)
    if (spec.name == name) return &spec;
  return nullptr;
}

std::string describe_accepted(const OptionSpec& spec) {
  std::string text;
  auto number = [&](std::int64_t n) {
    return spec.kind == K::size ? format_size(n) : std::to_string(n);
  };
  switch (spec.kind) {
    case K::count:
      text = "a whole number from " + number(spec.min) + " to " + number(spec.max);
      break;
    case K::seconds:
      text = "a whole number of seconds from " + number(spec.min) + " to " + number(spec.max);
      break;
    case K::size:
      text = "a size in bytes from " + number(spec.min) + " to " + number(spec.max) +
             ", optionally with a K, M or G suffix";
      break;
    case K::octal: {
      char max_text[16];
      std::snprintf(max_text, sizeof max_text, "0%llo", static_cast<unsigned long long>(spec.max));
      text = std::string("an octal number from 0 to ") + max_text + ", such as 0022";
      break;
    }
    case K::flag: text = "On or Off"; break;
    case K::text: text = "a non-empty value"; break;
    case K::path: text = "an absolute path (starting with '/')"; break;
    case K::path_list: text = "one or more directories separated by ':'"; break;
    case K::name_list: text = "one or more group names or #gids separated by ','"; break;
    case K::account:
      text = spec.name == "user" ? "a user name or #uid other than root"
                                 : "a name or #id";
      break;
    case K::display_name: text = "a name, or %{GROUP} for (wsgi:NAME)"; break;
    case K::decimal:
      text = "a decimal number greater than 0 and at most " + number(spec.max) + ", such as 0.002";
      break;
  }
  if (!spec.zero_means.empty()) {
    text += ", or 0 for ";
    text += spec.zero_means;
  }
  return text;
}

std::optional<double> parse_decimal_option(const OptionSpec& spec, std::string_view value) {
  auto number = parse_decimal(value);
  if (!number) return std::nullopt;
  const bool zero_ok = !spec.zero_means.empty() && *number == 0;
  if (!zero_ok && (*number <= 0 || *number > static_cast<double>(spec.max))) return std::nullopt;
  return number;
}

DaemonOptions parse_daemon_process(std::string_view name, const std::vector<std::string>& args) {
  if (name.empty())
    throw ConfigError(
        "GANTRY0306: WSGIDaemonProcess: the first argument must be the process group name, "
        "as in: WSGIDaemonProcess myapp threads=15");
  DaemonOptions options;
  options.name = std::string(name);

  for (const std::string& arg : args) {
    const std::size_t equals = arg.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw ConfigError(directive_prefix("GANTRY0302", name) + "'" + arg +
                        "' is not of the form option=value (as in threads=15)");
    }
    const std::string_view option = std::string_view(arg).substr(0, equals);
    const std::string_view value = std::string_view(arg).substr(equals + 1);

    const OptionSpec* spec = find_daemon_option(option);
    if (spec == nullptr) {
      std::string message =
          directive_prefix("GANTRY0301", name) + "unknown option '" + std::string(option) + "'";
      if (auto guess = suggest(option); !guess.empty())
        message += " (did you mean '" + std::string(guess) + "'?)";
      message += "; the accepted options are listed in docs/daemon-options.md";
      throw ConfigError(message);
    }
    if (options.was_given(spec->name)) {
      throw ConfigError(directive_prefix("GANTRY0303", name) + "option '" +
                        std::string(spec->name) + "' is given more than once (" + arg +
                        " repeats it); give each option once");
    }
    if (!apply(*spec, name, value, options)) {
      throw ConfigError(directive_prefix("GANTRY0304", name) + arg + ": expected " +
                        describe_accepted(*spec));
    }
    options.given.emplace_back(spec->name);
    if (spec->name == "processes") options.multiprocess = true;
  }

  if (options.was_given("script-user") && options.was_given("script-group")) {
    throw ConfigError(directive_prefix("GANTRY0305", name) +
                      "script-user and script-group cannot both be given; keep one");
  }
  // "0 = default" values resolved once here, so users of DaemonOptions see real numbers.
  if (options.header_buffer_size == 0) options.header_buffer_size = 32768;
  if (options.response_buffer_size == 0) options.response_buffer_size = 65536;
  if (options.response_socket_timeout.count() == 0)
    options.response_socket_timeout = options.socket_timeout;
  return options;
}

std::vector<std::string_view> not_yet_effective(const DaemonOptions& options) {
  std::vector<std::string_view> names;
  for (const std::string& given : options.given) {
    const OptionSpec* spec = find_daemon_option(given);
    if (spec != nullptr && !spec->effective) names.push_back(spec->name);
  }
  return names;
}

std::string not_yet_effective_warning(const DaemonOptions& options) {
  const auto names = not_yet_effective(options);
  if (names.empty()) return {};
  std::string message = "GANTRY0307: WSGIDaemonProcess " + options.name +
                        ": these options are accepted but Gantry does not act on them yet: ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) message += ", ";
    message += names[i];
  }
  message += ". The group runs as if they were not given.";
  return message;
}

std::string daemon_options_markdown() {
  std::string out =
      "| Option | Accepted values | Default | Effective | Meaning |\n"
      "|---|---|---|---|---|\n";
  for (const auto& spec : kSpecs) {
    out += "| `" + std::string(spec.name) + "` | " + describe_accepted(spec) + " | " +
           std::string(spec.default_text) + " | " + (spec.effective ? "yes" : "no") +
           " | " + std::string(spec.doc) + " |\n";
  }
  return out;
}

}  // namespace gantry
