// Splitting directive arguments into words: Apache's quoting, mod_wsgi's quoted option
// values, and the errors for broken quoting.
#include <boost/test/unit_test.hpp>

#include "gantry/config_error.hpp"
#include "gantry/directive_words.hpp"

using gantry::split_directive_words;
using Words = std::vector<std::string>;

namespace {

// Words of a WSGIDaemonProcess line (one positional word: the group name).
Words daemon(std::string_view text) { return split_directive_words("WSGIDaemonProcess", text, 1); }

std::string error_of(std::string_view text, std::size_t positional = 1) {
  try {
    split_directive_words("WSGIDaemonProcess", text, positional);
  } catch (const gantry::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(directive_words)

BOOST_AUTO_TEST_CASE(plain_words_split_at_white_space) {
  BOOST_TEST(daemon("g processes=2  threads=5") == (Words{"g", "processes=2", "threads=5"}));
  BOOST_TEST(daemon("  \tg\t display-name=%{GROUP}  ") == (Words{"g", "display-name=%{GROUP}"}));
  BOOST_TEST(daemon("").empty());
  BOOST_TEST(daemon("   ").empty());
}

BOOST_AUTO_TEST_CASE(quoted_option_values_lose_their_quotes) {
  BOOST_TEST(daemon("g python-path=\"/srv/site\"") == (Words{"g", "python-path=/srv/site"}));
  BOOST_TEST(daemon("g display-name='%{GROUP}'") == (Words{"g", "display-name=%{GROUP}"}));
  BOOST_TEST(daemon("g python-home='/usr' threads=2") ==
             (Words{"g", "python-home=/usr", "threads=2"}));
  BOOST_TEST(daemon("g display-name=\"my app\" threads=2") ==
             (Words{"g", "display-name=my app", "threads=2"}));
}

BOOST_AUTO_TEST_CASE(a_whole_quoted_word_is_one_word) {
  BOOST_TEST(daemon("g \"python-path=/a b\"") == (Words{"g", "python-path=/a b"}));
  BOOST_TEST(split_directive_words("WSGIScriptAlias", "/ '/srv/my site/app.wsgi'", 2) ==
             (Words{"/", "/srv/my site/app.wsgi"}));
  BOOST_TEST(daemon("\"my group\" threads=1") == (Words{"my group", "threads=1"}));
}

BOOST_AUTO_TEST_CASE(empty_quoted_values_stay_empty) {
  BOOST_TEST(daemon("g python-path=\"\"") == (Words{"g", "python-path="}));
  BOOST_TEST(daemon("g '' x=''") == (Words{"g", "", "x="}));
  // An unquoted empty value does not swallow the next word (mod_wsgi's reader did).
  BOOST_TEST(daemon("g python-path= threads=2") == (Words{"g", "python-path=", "threads=2"}));
}

BOOST_AUTO_TEST_CASE(escapes_inside_quotes) {
  BOOST_TEST(daemon(R"(g display-name="say \"hi\"")") == (Words{"g", R"(display-name=say "hi")"}));
  BOOST_TEST(daemon(R"(g display-name='it\'s')") == (Words{"g", "display-name=it's"}));
  BOOST_TEST(daemon(R"(g x="a\\b")") == (Words{"g", R"(x=a\b)"}));
  // The other quote needs no escape, and other backslashes stay (regexes keep theirs).
  BOOST_TEST(daemon(R"(g x="it's")") == (Words{"g", "x=it's"}));
  BOOST_TEST(daemon(R"(g x="a\.b")") == (Words{"g", R"(x=a\.b)"}));
  // Outside quotes only \\ is an escape, as in ap_getword_conf.
  BOOST_TEST(daemon(R"(g x=a\\b y=c\.d)") == (Words{"g", R"(x=a\b)", R"(y=c\.d)"}));
}

BOOST_AUTO_TEST_CASE(equals_inside_a_quoted_value_is_kept) {
  BOOST_TEST(daemon("g display-name=\"a=b c\"") == (Words{"g", "display-name=a=b c"}));
  std::string_view name, value;
  BOOST_TEST(gantry::split_option_word("display-name=a=b c", &name, &value));
  BOOST_TEST(name == "display-name");
  BOOST_TEST(value == "a=b c");
  BOOST_TEST(!gantry::split_option_word("=x", &name, &value));
  BOOST_TEST(!gantry::split_option_word("plain", &name, &value));
  BOOST_TEST(gantry::split_option_word("x=", &name, &value));
  BOOST_TEST(value.empty());
}

BOOST_AUTO_TEST_CASE(option_value_names_one_option) {
  const char* word = "process-group=a=b";
  BOOST_TEST(gantry::option_value(word, "process-group") == word + 14);  // "a=b", in place
  BOOST_TEST(std::string_view(gantry::option_value("application-group=", "application-group")).empty());
  BOOST_TEST(gantry::option_value("process-group=g", "process") == nullptr);  // not a prefix match
  BOOST_TEST(gantry::option_value("process-groupx=g", "process-group") == nullptr);
  BOOST_TEST(gantry::option_value("process-group", "process-group") == nullptr);  // no '='
  BOOST_TEST(gantry::option_value("=g", "") == nullptr);
}

BOOST_AUTO_TEST_CASE(quotes_inside_an_unquoted_value_are_literal) {
  // Only a quote right after the first '=' opens a quoted value; later ones are text.
  BOOST_TEST(daemon("g display-name=it's") == (Words{"g", "display-name=it's"}));
  BOOST_TEST(daemon("g x=a=\"b\"") == (Words{"g", "x=a=\"b\""}));
}

BOOST_AUTO_TEST_CASE(positional_words_are_plain_apache_words) {
  // A regex with ="..." in it is not an option: it keeps its quotes.
  BOOST_TEST(split_directive_words("WSGIScriptAliasMatch", "^/a=\"b\" /x.wsgi", 2) ==
             (Words{"^/a=\"b\"", "/x.wsgi"}));
  BOOST_TEST(split_directive_words("WSGIScriptAlias", "/ /x.wsgi process-group='g'", 2) ==
             (Words{"/", "/x.wsgi", "process-group=g"}));
}

BOOST_AUTO_TEST_CASE(unterminated_quote_is_an_error_naming_the_fix) {
  for (auto text : {"g display-name='%{GROUP}", "g python-path=\"/srv/site", "g \"python-path=/a b",
                    R"(g x="a\")"}) {
    const std::string message = error_of(text);
    BOOST_TEST(message.rfind("GANTRY0017: WSGIDaemonProcess: unterminated ", 0) == 0, message);
    BOOST_TEST(contains(message, "close it with a matching"), message);
  }
  BOOST_TEST(contains(error_of("g display-name='%{GROUP}"), "in display-name='%{GROUP}"));
  BOOST_TEST(contains(error_of("'g threads=1"), "unterminated ' quote in 'g threads=1"));
}

BOOST_AUTO_TEST_CASE(text_glued_to_a_closing_quote_is_an_error) {
  const std::string message = error_of("g python-path=\"/srv\"/site threads=1");
  BOOST_TEST(message.rfind("GANTRY0018: WSGIDaemonProcess: text follows the closing \" quote", 0) == 0,
             message);
  BOOST_TEST(contains(message, "in python-path=\"/srv\"/site;"), message);
  BOOST_TEST(!error_of("\"a\"b").empty());
}

BOOST_AUTO_TEST_SUITE_END()
