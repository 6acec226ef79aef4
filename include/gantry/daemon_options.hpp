#pragma once
// WSGIDaemonProcess: the option model and its parser.
//
//   WSGIDaemonProcess NAME [option=value ...]
//
// Every option mod_wsgi 4.9 accepts is accepted here with the same meaning and default
// (so existing configs parse unchanged), interrupt-timeout from mod_wsgi 6, plus Gantry's own: maximum-memory,
// maximum-requests-jitter and memory-growth-log. All facts about an option (its kind,
// bounds, default, whether Gantry acts on it yet, a one-line doc) live in ONE table,
// daemon_option_specs(); parsing, validation, the `apachectl -t` messages, the start-up
// "not yet effective" warning and docs/daemon-options.md are all derived from it.
//
// Deliberate differences from mod_wsgi, all of them earlier and clearer errors:
//   - numbers are parsed strictly ("15x" is an error, mod_wsgi's atoi() read 15);
//   - an option given twice is an error (mod_wsgi silently kept the last one);
//   - numbers have upper bounds (threads <= 10000, timeouts <= one year, ...);
//   - stack-size must be at least 16K (PTHREAD_STACK_MIN), not merely positive;
//   - threads=0 (mod_wsgi's "managed process" mode, which serves no requests) is refused
//     rather than accepted and silently not implemented.
// Names of users and groups are only checked for form here; resolving them to ids
// (getpwnam) is the module's job at the point it has Apache's User/Group.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gantry/config_error.hpp"

namespace gantry {

struct DaemonOptions {
  std::string name;  // the process group name (first directive argument)

  // Process model.
  std::int64_t processes = 1;
  // wsgi.multiprocess for this group: true as soon as processes= is given, even
  // processes=1 (mod_wsgi's rule: it allows load balancing across groups/servers).
  bool multiprocess = false;
  std::int64_t threads = 15;
  std::string display_name;  // "" = leave argv[0]; %{GROUP} already expanded

  // Identity and environment.
  std::string user;                               // "" = Apache's User; "name" or "#uid"
  std::string group;                              // "" = Apache's Group; "name" or "#gid"
  std::vector<std::string> supplementary_groups;  // names or #gid, in order
  std::int64_t umask = -1;                        // -1 = inherit Apache's
  std::string home;                               // "" = the user's home directory
  std::string chroot;
  std::string lang;    // sets LANG
  std::string locale;  // sets LC_ALL
  std::string script_user;   // owner every script must have ("" = no check)
  std::string script_group;  // group every script must have ("" = no check)
  std::string socket_user;   // owner of the listener socket ("" = Apache's User)

  // Python.
  bool preload = false;  // preload=On: the template imports the preload scripts (docs/template.md)
  std::string python_home;
  std::vector<std::string> python_path;
  std::string python_eggs;
  double switch_interval = 0;  // seconds; 0 = Python's default (mod_wsgi 6)

  // Threads, sockets and buffers.
  std::int64_t stack_size = 0;  // bytes per request thread; 0 = system default
  std::int64_t listen_backlog = 100;
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds socket_timeout{0};           // 0 = Apache's Timeout
  std::chrono::seconds queue_timeout{0};            // 0 = no limit
  std::chrono::seconds response_socket_timeout{0};  // 0 = socket-timeout
  std::int64_t send_buffer_size = 0;                // 0 = system default
  std::int64_t receive_buffer_size = 0;             // 0 = system default
  std::int64_t header_buffer_size = 32768;          // largest single response header
  std::int64_t response_buffer_size = 65536;
  double response_flush_delay = 5;  // milliseconds (mod_wsgi 6); accepted, see the table

  // Process lifecycle and limits.
  std::int64_t maximum_requests = 0;  // 0 = unlimited
  std::chrono::seconds inactivity_timeout{0};
  std::chrono::seconds request_timeout{0};
  std::chrono::seconds interrupt_timeout{0};  // 0 = restart at request-timeout, no interrupt
  std::chrono::seconds graceful_timeout{15};
  std::chrono::seconds eviction_timeout{0};  // 0 = graceful-timeout
  std::chrono::seconds shutdown_timeout{5};
  std::chrono::seconds deadlock_timeout{300};
  std::chrono::seconds startup_timeout{0};
  std::chrono::seconds restart_interval{0};
  std::chrono::seconds cpu_time_limit{0};
  std::int64_t cpu_priority = 0;
  std::int64_t memory_limit = 0;          // bytes, RLIMIT_DATA; 0 = none
  std::int64_t virtual_memory_limit = 0;  // bytes, RLIMIT_AS; 0 = none
  bool server_metrics = false;
  std::string newrelic_config_file;  // accepted for compatibility, ignored
  std::string newrelic_environment;  // accepted for compatibility, ignored

  // Gantry's own.
  std::int64_t maximum_memory = 0;           // bytes of RSS before a graceful restart; 0 = off
  std::int64_t maximum_requests_jitter = 0;  // random 0..N added to maximum-requests per process
  std::int64_t memory_growth_log = 32 << 20;  // log a request whose peak RSS grew this much; 0 = off

  // The option names given on the directive, in order (for not_yet_effective and to
  // tell "given" from "default").
  std::vector<std::string> given;
  bool was_given(std::string_view option) const;
};

// How an option's value is written.
enum class OptionKind {
  count,         // whole number within [min, max]
  seconds,       // whole number of seconds within [min, max]
  size,          // bytes, optional K/M/G/T suffix, within [min, max]
  octal,         // octal number within [min, max] (umask)
  flag,          // On | Off
  text,          // any non-empty string
  path,          // an absolute path
  path_list,     // ':'-separated list of directories
  name_list,     // ','-separated list of names
  account,       // a user or group: name or #id
  display_name,  // any non-empty string; %{GROUP} becomes (wsgi:NAME)
  decimal,       // a decimal number greater than 0 (or 0 with zero_means), at most max
};

// Where a parsed value is stored.
using OptionField =
    std::variant<std::int64_t DaemonOptions::*, std::chrono::seconds DaemonOptions::*,
                 std::string DaemonOptions::*, std::vector<std::string> DaemonOptions::*,
                 bool DaemonOptions::*, double DaemonOptions::*>;

struct OptionSpec {
  std::string_view name;
  OptionKind kind;
  std::int64_t min;             // numeric kinds only
  std::int64_t max;             // numeric kinds only
  std::string_view zero_means;  // non-empty: 0 is accepted too, and means this
  std::string_view default_text;
  bool effective;  // false: accepted and validated, but Gantry does not act on it yet
  std::string_view doc;
  OptionField field;
};

// The table, in documentation order.
std::span<const OptionSpec> daemon_option_specs();
const OptionSpec* find_daemon_option(std::string_view name);

// "a whole number from 1 to 10000", "On or Off", ... as used in error messages and docs.
std::string describe_accepted(const OptionSpec& spec);

// A value of a `decimal` option (switch-interval=, and WSGISwitchInterval which shares its
// rules); nullopt if it is not of the accepted form.
std::optional<double> parse_decimal_option(const OptionSpec& spec, std::string_view value);

// Parses the directive's arguments after the name. Throws ConfigError naming the option,
// the value and the accepted form, e.g.
//   GANTRY0304: WSGIDaemonProcess myapp: threads=abc: expected a whole number from 1 to 10000
DaemonOptions parse_daemon_process(std::string_view name, const std::vector<std::string>& args);

// The options given on the directive that the daemon does not act on yet, in the order
// given.
std::vector<std::string_view> not_yet_effective(const DaemonOptions& options);
// One start-up warning line for them ("" when there are none), starting "GANTRY0307: ".
std::string not_yet_effective_warning(const DaemonOptions& options);

// The option table as a Markdown table (docs/daemon-options.md is generated from it).
std::string daemon_options_markdown();

}  // namespace gantry
