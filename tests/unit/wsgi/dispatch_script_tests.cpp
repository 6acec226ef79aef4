// WSGIDispatchScript on the Python side (PythonApi::run_dispatch): which functions are asked,
// what they may answer, the environ they see, and how failures are reported.
#include <boost/test/unit_test.hpp>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

int outcome(Outcome o) { return static_cast<int>(o); }

Outcome dispatch(const std::string& source, FakeChannel& channel, DispatchChoice& choice,
                 const std::string& group = "") {
  TempScript script(source, ".py");
  ScriptTarget target;
  target.script_path = script.path();
  target.application_group = group;
  return api().run_dispatch(target, channel, &choice);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dispatch_script)

BOOST_AUTO_TEST_CASE(missing_functions_and_none_keep_everything) {
  FakeChannel ch;
  DispatchChoice choice;
  BOOST_TEST(outcome(dispatch("x = 1\n", ch, choice)) == outcome(Outcome::ok));
  BOOST_TEST(!choice.process_group.has_value());
  BOOST_TEST(!choice.application_group.has_value());
  BOOST_TEST(!choice.callable_object.has_value());
  BOOST_TEST(outcome(dispatch("def process_group(e): return None\n", ch, choice)) == outcome(Outcome::ok));
  BOOST_TEST(!choice.process_group.has_value());
  BOOST_TEST(ch.errors_logged() == 0, ch.all_logs());
}

BOOST_AUTO_TEST_CASE(str_and_bytes_answers) {
  FakeChannel ch;
  ch.set_env("REQUEST_URI", "/api/x");
  DispatchChoice choice;
  const char* source = R"PY(
def process_group(environ):
    return 'api' if environ['REQUEST_URI'].startswith('/api/') else 'web'
def application_group(environ):
    return b'%{GLOBAL}'
def callable_object(environ):
    return 'caf\xe9'
)PY";
  BOOST_TEST(outcome(dispatch(source, ch, choice)) == outcome(Outcome::ok), ch.all_logs());
  BOOST_TEST(choice.process_group.value_or("<unset>") == "api");
  BOOST_TEST(choice.application_group.value_or("<unset>") == "%{GLOBAL}");
  BOOST_TEST(choice.callable_object.value_or("<unset>") == "caf\xe9");  // latin-1 bytes
}

BOOST_AUTO_TEST_CASE(environ_the_script_sees) {
  FakeChannel ch;
  ch.set_env("REQUEST_METHOD", "GET");
  ch.set_env("mod_wsgi.process_group", "configured");
  ch.set_env("mod_wsgi.application_group", "configured-app");
  ch.set_env("mod_wsgi.callable_object", "application");
  DispatchChoice choice;
  const char* source = R"PY(
import mod_wsgi
def process_group(environ):
    environ['wsgi.errors'].write('dispatch here\n')
    return '|'.join([environ['REQUEST_METHOD'], environ['mod_wsgi.process_group'],
                     environ['mod_wsgi.application_group'],
                     str('mod_wsgi.callable_object' in environ), mod_wsgi.application_group])
)PY";
  BOOST_TEST(outcome(dispatch(source, ch, choice, "dispatchers")) == outcome(Outcome::ok), ch.all_logs());
  BOOST_TEST(choice.process_group.value_or("<unset>") == "GET||dispatchers|False|dispatchers");
  BOOST_TEST(ch.logged("GANTRY0424: dispatch here"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(exceptions_and_wrong_types_are_server_errors) {
  struct Case {
    const char* source;
    const char* expect;
  };
  for (const Case& c : {Case{"def process_group(e):\n    raise ValueError('no route')\n", "ValueError: no route"},
                        Case{"def application_group(e):\n    return 42\n", "must be a string or None, not int"},
                        Case{"def callable_object(e):\n    return '\\u20ac'\n", "latin-1"},
                        Case{"def process_group():\n    return 'x'\n", "TypeError"}}) {
    FakeChannel ch;
    DispatchChoice choice;
    TempScript script(c.source, ".py");
    ScriptTarget target;
    target.script_path = script.path();
    BOOST_TEST(outcome(api().run_dispatch(target, ch, &choice)) == outcome(Outcome::server_error), c.source);
    BOOST_TEST(ch.logged("GANTRY0422: Exception occurred processing WSGI dispatch script '" + script.path() + "'"),
               ch.all_logs());
    BOOST_TEST(ch.logged(c.expect), ch.all_logs());
  }
}

BOOST_AUTO_TEST_CASE(a_failure_stops_before_the_next_function) {
  FakeChannel ch;
  DispatchChoice choice;
  const char* source = R"PY(
def process_group(e):
    return 'first'
def application_group(e):
    raise RuntimeError('second fails')
def callable_object(e):
    raise AssertionError('never asked')
)PY";
  BOOST_TEST(outcome(dispatch(source, ch, choice)) == outcome(Outcome::server_error));
  BOOST_TEST(!ch.logged("never asked"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(unloadable_script_is_a_server_error) {
  FakeChannel ch;
  DispatchChoice choice;
  BOOST_TEST(outcome(dispatch("def process_group(e) return 'x'\n", ch, choice)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("SyntaxError"), ch.all_logs());
  ScriptTarget target;
  const std::string missing = temp_dir() + "/no-such-dispatch.py";
  target.script_path = missing;
  BOOST_TEST(outcome(api().run_dispatch(target, ch, &choice)) == outcome(Outcome::server_error));
}

BOOST_AUTO_TEST_SUITE_END()
