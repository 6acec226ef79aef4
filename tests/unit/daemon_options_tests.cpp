// WSGIDaemonProcess parsing: every option kind, every error, the table's consistency.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "gantry/daemon_options.hpp"
#include "gantry/value_parse.hpp"

using gantry::ConfigError;
using gantry::DaemonOptions;
using gantry::parse_daemon_process;

namespace {

// The message of the ConfigError that parsing `args` throws ("" if none).
std::string error_of(const std::vector<std::string>& args, std::string_view name = "myapp") {
  try {
    parse_daemon_process(name, args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(value_parse)

BOOST_AUTO_TEST_CASE(whole_numbers_are_strict) {
  using gantry::parse_whole_number;
  BOOST_TEST(parse_whole_number("15").value() == 15);
  BOOST_TEST(parse_whole_number("0").value() == 0);
  BOOST_TEST(parse_whole_number("-20").value() == -20);
  BOOST_TEST(parse_whole_number("9223372036854775807").value() == INT64_MAX);
  for (auto bad : {"", "-", "15x", " 15", "15 ", "+15", "1.5", "9223372036854775808", "abc"})
    BOOST_TEST(!parse_whole_number(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(sizes_take_binary_suffixes) {
  using gantry::parse_size;
  BOOST_TEST(parse_size("100").value() == 100);
  BOOST_TEST(parse_size("512K").value() == 512 * 1024);
  BOOST_TEST(parse_size("32m").value() == 32 << 20);
  BOOST_TEST(parse_size("2G").value() == std::int64_t{2} << 30);
  BOOST_TEST(parse_size("1T").value() == std::int64_t{1} << 40);
  for (auto bad : {"", "K", "12KB", "-1", "1.5M", "99999999999999999G", "M12"})
    BOOST_TEST(!parse_size(bad).has_value(), bad);
  BOOST_TEST(gantry::format_size(32 << 20) == "32M");
  BOOST_TEST(gantry::format_size(1000) == "1000");
  BOOST_TEST(gantry::format_size(0) == "0");
  BOOST_TEST(gantry::format_size(1536) == "1536");
}

BOOST_AUTO_TEST_CASE(octal_and_flags) {
  BOOST_TEST(gantry::parse_octal("022").value() == 022);
  BOOST_TEST(gantry::parse_octal("0007").value() == 07);
  BOOST_TEST(!gantry::parse_octal("8").has_value());
  BOOST_TEST(!gantry::parse_octal("").has_value());
  BOOST_TEST(gantry::parse_on_off("On").value() == true);
  BOOST_TEST(gantry::parse_on_off("OFF").value() == false);
  BOOST_TEST(!gantry::parse_on_off("yes").has_value());
}

BOOST_AUTO_TEST_CASE(decimals_are_plain) {
  using gantry::parse_decimal;
  BOOST_TEST(*parse_decimal("0.002") == 0.002);
  BOOST_TEST(*parse_decimal("5") == 5.0);
  BOOST_TEST(*parse_decimal(".5") == 0.5);
  BOOST_TEST(*parse_decimal("12.") == 12.0);
  for (auto bad : {"", ".", "-1", "+1", "1e3", "inf", "nan", "0x10", "1.2.3", " 1", "5ms"})
    BOOST_TEST(!parse_decimal(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(daemon_options)

BOOST_AUTO_TEST_CASE(mod_wsgi_6_options) {
  const DaemonOptions o =
      parse_daemon_process("g", {"switch-interval=0.0125", "response-flush-delay=0"});
  BOOST_TEST(o.switch_interval == 0.0125);
  BOOST_TEST(o.response_flush_delay == 0.0);
  BOOST_TEST(parse_daemon_process("g", {}).switch_interval == 0.0);  // Python's own
  BOOST_TEST(contains(error_of({"switch-interval=0"}),
                      "switch-interval=0: expected a decimal number greater than 0 and at most 60"));
  BOOST_TEST(contains(error_of({"switch-interval=61"}), "GANTRY0304"));
  BOOST_TEST(contains(error_of({"response-flush-delay=x"}), "GANTRY0304"));
  // Accepted without an effect in Gantry's design: warned about at start-up.
  const auto ignored = gantry::not_yet_effective(
      parse_daemon_process("g", {"switch-interval=0.1", "response-flush-delay=5"}));
  BOOST_TEST(ignored.size() == 1u);
  BOOST_TEST(ignored.front() == "response-flush-delay");
}

BOOST_AUTO_TEST_CASE(defaults_match_mod_wsgi) {
  const DaemonOptions o = parse_daemon_process("myapp", {});
  BOOST_TEST(o.name == "myapp");
  BOOST_TEST(o.processes == 1);
  BOOST_TEST(!o.multiprocess);
  BOOST_TEST(o.threads == 15);
  BOOST_TEST(o.umask == -1);
  BOOST_TEST(o.listen_backlog == 100);
  BOOST_TEST(o.connect_timeout.count() == 15);
  BOOST_TEST(o.graceful_timeout.count() == 15);
  BOOST_TEST(o.shutdown_timeout.count() == 5);
  BOOST_TEST(o.deadlock_timeout.count() == 300);
  BOOST_TEST(o.header_buffer_size == 32768);
  BOOST_TEST(o.response_buffer_size == 65536);
  BOOST_TEST(o.memory_growth_log == 32 << 20);
  BOOST_TEST(o.given.empty());
  BOOST_TEST(gantry::not_yet_effective(o).empty());
  BOOST_TEST(gantry::not_yet_effective_warning(o).empty());
}

BOOST_AUTO_TEST_CASE(processes_given_makes_multiprocess_even_when_one) {
  BOOST_TEST(parse_daemon_process("a", {"processes=1"}).multiprocess);
  BOOST_TEST(parse_daemon_process("a", {"processes=4"}).processes == 4);
  BOOST_TEST(!parse_daemon_process("a", {"threads=4"}).multiprocess);
}

BOOST_AUTO_TEST_CASE(every_kind_parses) {
  const DaemonOptions o = parse_daemon_process(
      "site", {"threads=25", "display-name=%{GROUP}", "user=www-data", "group=#33",
               "supplementary-groups=adm,#4", "umask=0027", "home=/srv/site",
               "python-path=/srv/site:/srv/lib::", "python-home=/srv/venv", "lang=en_US.UTF-8",
               "stack-size=512K", "socket-timeout=60", "header-buffer-size=64K",
               "server-metrics=On", "cpu-priority=-5", "maximum-memory=1G",
               "memory-growth-log=0", "script-user=alice"});
  BOOST_TEST(o.threads == 25);
  BOOST_TEST(o.display_name == "(wsgi:site)");
  BOOST_TEST(o.user == "www-data");
  BOOST_TEST(o.group == "#33");
  BOOST_TEST((o.supplementary_groups == std::vector<std::string>{"adm", "#4"}));
  BOOST_TEST(o.umask == 027);
  BOOST_TEST(o.home == "/srv/site");
  BOOST_TEST((o.python_path == std::vector<std::string>{"/srv/site", "/srv/lib"}));
  BOOST_TEST(o.python_home == "/srv/venv");
  BOOST_TEST(o.lang == "en_US.UTF-8");
  BOOST_TEST(o.stack_size == 512 * 1024);
  BOOST_TEST(o.socket_timeout.count() == 60);
  BOOST_TEST(o.response_socket_timeout.count() == 60);  // 0 = socket-timeout
  BOOST_TEST(o.header_buffer_size == 65536);
  BOOST_TEST(o.server_metrics);
  BOOST_TEST(o.cpu_priority == -5);
  BOOST_TEST(o.maximum_memory == std::int64_t{1} << 30);
  BOOST_TEST(o.memory_growth_log == 0);
  BOOST_TEST(o.script_user == "alice");
  BOOST_TEST(o.was_given("umask"));
  BOOST_TEST(!o.was_given("processes"));
  BOOST_TEST(parse_daemon_process("x", {"display-name=my-daemon"}).display_name == "my-daemon");
}

BOOST_AUTO_TEST_CASE(empty_python_path_adds_nothing) {
  // python-path="" (a template with nothing to add) is accepted, as mod_wsgi does.
  BOOST_TEST(parse_daemon_process("site", {"python-path="}).python_path.empty());
  BOOST_CHECK_THROW(parse_daemon_process("site", {"display-name="}), std::exception);
  BOOST_CHECK_THROW(parse_daemon_process("site", {"supplementary-groups="}), std::exception);
}

BOOST_AUTO_TEST_CASE(zero_means_default_where_mod_wsgi_says_so) {
  const DaemonOptions o = parse_daemon_process(
      "a", {"header-buffer-size=0", "response-buffer-size=0", "send-buffer-size=0",
            "socket-timeout=0"});
  BOOST_TEST(o.header_buffer_size == 32768);
  BOOST_TEST(o.response_buffer_size == 65536);
  BOOST_TEST(o.send_buffer_size == 0);
  BOOST_TEST(o.socket_timeout.count() == 0);
}

BOOST_AUTO_TEST_CASE(bad_value_message_names_option_value_and_form) {
  BOOST_TEST(error_of({"threads=abc"}) ==
             "GANTRY0304: WSGIDaemonProcess myapp: threads=abc: expected a whole number from 1 "
             "to 10000");
  BOOST_TEST(contains(error_of({"threads=0"}), "threads=0: expected a whole number from 1"));
  BOOST_TEST(contains(error_of({"threads=10001"}), "from 1 to 10000"));
  BOOST_TEST(contains(error_of({"processes=-1"}), "processes=-1"));
  BOOST_TEST(contains(error_of({"umask=0999"}), "expected an octal number from 0 to 0777"));
  BOOST_TEST(contains(error_of({"header-buffer-size=100"}),
                      "a size in bytes from 8K to 2147483647, optionally with a K, M or G "
                      "suffix, or 0 for the default 32768"));
  BOOST_TEST(contains(error_of({"maximum-memory=lots"}), "maximum-memory=lots: expected a size"));
  BOOST_TEST(contains(error_of({"socket-timeout=1.5"}), "a whole number of seconds"));
  BOOST_TEST(contains(error_of({"server-metrics=yes"}), "expected On or Off"));
  BOOST_TEST(contains(error_of({"home=relative/dir"}), "expected an absolute path"));
  BOOST_TEST(contains(error_of({"python-path=::"}), "separated by ':'"));
  BOOST_TEST(contains(error_of({"user=root"}), "other than root"));
  BOOST_TEST(contains(error_of({"user=#0"}), "other than root"));
  BOOST_TEST(contains(error_of({"group=#x"}), "a name or #id"));
  BOOST_TEST(contains(error_of({"lang="}), "lang=: expected a non-empty value"));
  BOOST_TEST(contains(error_of({"cpu-priority=21"}), "from -20 to 20"));
  BOOST_TEST(contains(error_of({"stack-size=4K"}), "from 16K to 1G"));
  BOOST_TEST(contains(error_of({"supplementary-groups=,"}), "group names or #gids separated"));
  BOOST_TEST(contains(error_of({"supplementary-groups=adm,#x"}), "supplementary-groups=adm,#x"));
  BOOST_TEST(contains(error_of({"display-name="}), "or %{GROUP} for (wsgi:NAME)"));
  BOOST_TEST(contains(error_of({"chroot=jail"}), "chroot=jail: expected an absolute path"));
}

BOOST_AUTO_TEST_CASE(structural_errors) {
  BOOST_TEST(contains(error_of({"threads"}), "GANTRY0302"));
  BOOST_TEST(contains(error_of({"threads"}), "'threads' is not of the form option=value"));
  BOOST_TEST(contains(error_of({"=5"}), "GANTRY0302"));
  BOOST_TEST(contains(error_of({"thread=5"}), "GANTRY0301"));
  BOOST_TEST(contains(error_of({"thread=5"}), "unknown option 'thread' (did you mean 'threads'?)"));
  BOOST_TEST(contains(error_of({"maximum_requests=5"}), "did you mean 'maximum-requests'?"));
  BOOST_TEST(!contains(error_of({"frobnicate=1"}), "did you mean"));
  BOOST_TEST(contains(error_of({"threads=5", "threads=10"}), "GANTRY0303"));
  BOOST_TEST(contains(error_of({"threads=5", "threads=10"}), "'threads' is given more than once"));
  BOOST_TEST(contains(error_of({"script-user=a", "script-group=b"}), "GANTRY0305"));
  BOOST_TEST(contains(error_of({}, ""), "GANTRY0306"));
}

BOOST_AUTO_TEST_CASE(not_yet_effective_lists_given_lifecycle_options) {
  const DaemonOptions o = parse_daemon_process(
      "app", {"threads=5", "maximum-requests=1000", "startup-timeout=30",
              "maximum-memory=512M", "newrelic-environment=prod"});
  const auto names = gantry::not_yet_effective(o);
  // startup-timeout is implemented (daemon/lifecycle.cpp): no longer listed.
  BOOST_TEST((std::vector<std::string_view>(names.begin(), names.end()) ==
              std::vector<std::string_view>{"newrelic-environment"}));
  const std::string warning = gantry::not_yet_effective_warning(o);
  BOOST_TEST(warning.rfind("GANTRY0307: WSGIDaemonProcess app: ", 0) == 0);
  BOOST_TEST(contains(warning, "newrelic-environment"));
  BOOST_TEST(!contains(warning, "startup-timeout"));
}

BOOST_AUTO_TEST_CASE(table_is_consistent) {
  std::set<std::string_view> names;
  const DaemonOptions defaults;
  for (const auto& spec : gantry::daemon_option_specs()) {
    BOOST_TEST(names.insert(spec.name).second, "duplicate " << spec.name);
    BOOST_TEST(!spec.doc.empty(), spec.name);
    BOOST_TEST(!spec.default_text.empty(), spec.name);
    BOOST_TEST(gantry::find_daemon_option(spec.name) == &spec);
    // The documented default is the value DaemonOptions starts with, where it is a number.
    const std::string_view first = spec.default_text.substr(0, spec.default_text.find(' '));
    std::optional<std::int64_t> documented =
        spec.kind == gantry::OptionKind::size ? gantry::parse_size(first)
                                              : gantry::parse_whole_number(first);
    if (documented) {
      std::int64_t actual = 0;
      if (auto p = std::get_if<std::int64_t DaemonOptions::*>(&spec.field)) actual = defaults.**p;
      else if (auto s = std::get_if<std::chrono::seconds DaemonOptions::*>(&spec.field))
        actual = (defaults.**s).count();
      else if (auto d = std::get_if<double DaemonOptions::*>(&spec.field))
        actual = static_cast<std::int64_t>(defaults.**d);
      BOOST_TEST(actual == *documented, spec.name);
    }
  }
  // mod_wsgi 4.9's full set (from its directive parser), all accepted.
  for (auto name :
       {"user", "group", "supplementary-groups", "processes", "threads", "umask", "chroot", "home",
        "lang", "locale", "python-home", "python-path", "python-eggs", "stack-size",
        "maximum-requests", "startup-timeout", "shutdown-timeout", "deadlock-timeout",
        "inactivity-timeout", "request-timeout", "graceful-timeout", "eviction-timeout",
        "restart-interval", "connect-timeout", "socket-timeout", "queue-timeout",
        "listen-backlog", "display-name", "send-buffer-size", "receive-buffer-size",
        "header-buffer-size", "response-buffer-size", "response-socket-timeout", "socket-user",
        "script-user", "script-group", "cpu-time-limit", "cpu-priority", "memory-limit",
        "virtual-memory-limit", "server-metrics", "newrelic-config-file",
        "newrelic-environment"})
    BOOST_TEST(gantry::find_daemon_option(name) != nullptr, name);
  const std::string markdown = gantry::daemon_options_markdown();
  BOOST_TEST(contains(markdown, "| `threads` | a whole number from 1 to 10000 | 15 | yes |"));
}

BOOST_AUTO_TEST_CASE(docs_table_is_generated_from_the_code) {
  // docs/daemon-options.md carries daemon_options_markdown() verbatim: a change to the option
  // table without regenerating the doc fails here (paste the printed table into the doc).
  std::ifstream doc(GANTRY_SOURCE_DIR "/docs/daemon-options.md");
  BOOST_TEST_REQUIRE(doc.good());
  std::stringstream text;
  text << doc.rdbuf();
  const std::string table = gantry::daemon_options_markdown();
  BOOST_TEST(contains(text.str(), table), "docs/daemon-options.md is stale; its table is now:\n" << table);
}

BOOST_AUTO_TEST_SUITE_END()
