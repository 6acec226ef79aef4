// environ contents (PEP 3333 types, wsgi.* keys) and wsgi.input semantics.
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <thread>
#include <utility>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

// The app reports failed checks in its body; "ok" means every check passed.
const char* kEnvironApp = R"PY(
def application(environ, start_response):
    problems = []
    def check(cond, what):
        if not cond:
            problems.append(what)
    check(type(environ) is dict, 'environ is a dict')
    check(environ['wsgi.version'] == (1, 0), 'wsgi.version')
    check(environ['wsgi.url_scheme'] == environ.get('EXPECT_SCHEME'), 'wsgi.url_scheme=%r' % environ['wsgi.url_scheme'])
    # Not str, as under mod_wsgi: the version tuples and the request counts.
    typed = {'mod_wsgi.version': tuple, 'mod_wsgi.thread_id': int, 'mod_wsgi.thread_requests': int,
             'mod_wsgi.total_requests': int}
    for k, v in environ.items():
        check(type(k) is str, 'key type %r' % (k,))
        if not k.startswith('wsgi.'):
            check(type(v) is typed.get(k, str), 'value type of %s' % k)
    check(environ['mod_wsgi.version'] == (4, 9, 4), 'mod_wsgi.version')
    check(environ['HTTP_X_LATIN'] == 'caf\xe9', 'latin-1 decoding: %r' % environ['HTTP_X_LATIN'])
    check(environ['wsgi.multithread'] is True, 'multithread')
    check(environ['wsgi.multiprocess'] is False, 'multiprocess')
    check(environ['wsgi.run_once'] is False, 'run_once')
    check(environ['wsgi.input_terminated'] is True, 'input_terminated')
    check(callable(environ['wsgi.file_wrapper']), 'file_wrapper')
    check(hasattr(environ['wsgi.input'], 'read'), 'input')
    for m in ('write', 'writelines', 'flush'):
        check(hasattr(environ['wsgi.errors'], m), 'errors.' + m)
    check(environ['PATH_INFO'] == '/', 'PATH_INFO')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('\n'.join(problems) or 'ok').encode()]
)PY";

// Runs the same reads on wsgi.input and on io.BytesIO(body) and compares.
const char* kInputApp = R"PY(
import io
def application(environ, start_response):
    body = environ['wsgi.input']
    expected = io.BytesIO(EXPECTED_BODY)
    steps = [
        ('read', 5), ('readline', -1), ('readline', 4), ('readline', 4), ('read', 0),
        ('readline', 1000), ('readlines', 20), ('read', 7), ('iter', 2), ('readlines', -1), ('read', 10),
        ('read', -1), ('readline', -1),
    ]
    problems = []
    for name, arg in steps:
        if name == 'iter':
            got = [next(body) for _ in range(arg)]
            want = [next(expected) for _ in range(arg)]
        else:
            got = getattr(body, name)(arg)
            want = getattr(expected, name)(arg)
        if got != want:
            problems.append('%s(%r): got %r want %r' % (name, arg, got, want))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('\n'.join(problems) or 'ok').encode()]
)PY";

std::string make_body() {
  std::string body;
  for (int i = 0; i < 40; ++i) body += "line " + std::to_string(i) + " " + std::string(i * 3 % 17, 'x') + "\n";
  body += "no newline at the end";
  return body;
}

std::string python_bytes_literal(const std::string& s) {
  std::string out = "b'";
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\'' || c == '\\') out += std::string("\\") + c;
    else out += c;
  }
  return out + "'";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(environ_and_input)

BOOST_AUTO_TEST_CASE(environ_keys_and_types) {
  FakeChannel ch;
  ch.set_env("HTTP_X_LATIN", "caf\xe9");
  ch.set_env("EXPECT_SCHEME", "http");
  BOOST_TEST(static_cast<int>(run_source(kEnvironApp, ch)) == static_cast<int>(Outcome::ok));
  BOOST_TEST(ch.out == "ok");
  BOOST_TEST(ch.status == "200 OK");
  BOOST_TEST(ch.calls_with_gil == 0);
}

// The server passes apache.version as text; apps get mod_wsgi's tuple of ints.
BOOST_AUTO_TEST_CASE(apache_version_becomes_a_tuple) {
  const char* app = R"PY(
def application(environ, start_response):
    start_response('200 OK', [])
    return [repr(environ['apache.version']).encode()]
)PY";
  for (auto [given, want] : {std::pair{"2.4.62", "(2, 4, 62)"}, std::pair{"2.4.62-dev", "(2, 4, 62)"},
                             std::pair{"3", "(3,)"}, std::pair{"", "()"}}) {
    FakeChannel ch;
    ch.set_env("apache.version", given);
    BOOST_TEST(static_cast<int>(run_source(app, ch)) == static_cast<int>(Outcome::ok));
    BOOST_TEST(ch.out == want, "apache.version=" << given << ": " << ch.out << ch.all_logs());
  }
}

// mod_wsgi.thread_id / thread_requests / total_requests, counted in the process running
// the app: a thread keeps its id, its own count goes up by one per request, and the
// process's count by one per request whatever thread ran it.
BOOST_AUTO_TEST_CASE(request_counts_per_thread_and_process) {
  TempScript script(R"PY(
def application(environ, start_response):
    start_response('200 OK', [])
    return [('%d %d %d' % (environ['mod_wsgi.thread_id'], environ['mod_wsgi.thread_requests'],
                           environ['mod_wsgi.total_requests'])).encode()]
)PY");
  struct Seen {
    long id = -1, thread_requests = -1, total = -1;
  };
  auto once = [&] {
    FakeChannel ch;
    run(script.path(), ch);
    Seen s;
    std::sscanf(ch.out.c_str(), "%ld %ld %ld", &s.id, &s.thread_requests, &s.total);
    return s;
  };
  Seen a1, a2, b1, a3;
  std::thread([&] {
    a1 = once();
    a2 = once();
  }).join();
  std::thread([&] { b1 = once(); }).join();
  std::thread([&] { a3 = once(); }).join();
  // New threads: never id 0 (that is the thread which started Python), distinct ids.
  BOOST_TEST(a1.id > 0);
  BOOST_TEST(a2.id == a1.id);
  BOOST_TEST(b1.id > a1.id);
  BOOST_TEST(a3.id > b1.id);
  BOOST_TEST(a1.thread_requests == 0);
  BOOST_TEST(a2.thread_requests == 1);
  BOOST_TEST(b1.thread_requests == 0);
  BOOST_TEST(a2.total == a1.total + 1);
  BOOST_TEST(b1.total == a2.total + 1);
  BOOST_TEST(a3.total == b1.total + 1);
}

BOOST_AUTO_TEST_CASE(url_scheme_follows_https) {
  for (const char* on : {"on", "1", "ON"}) {
    FakeChannel ch;
    ch.set_env("HTTP_X_LATIN", "caf\xe9");
    ch.set_env("HTTPS", on);
    ch.set_env("EXPECT_SCHEME", "https");
    run_source(kEnvironApp, ch);
    BOOST_TEST(ch.out == "ok", "HTTPS=" << on << ": " << ch.out);
  }
}

BOOST_AUTO_TEST_CASE(input_matches_file_semantics_with_odd_chunks) {
  const std::string body = make_body();
  const std::string app = std::string("EXPECTED_BODY = ") + python_bytes_literal(body) + "\n" + kInputApp;
  for (auto chunks : std::vector<std::vector<std::size_t>>{{}, {1}, {3, 7, 1, 13}, {5000}, {2, 9000, 1}}) {
    FakeChannel ch;
    ch.body = body;
    ch.chunk_sizes = chunks;
    BOOST_TEST(static_cast<int>(run_source(app, ch)) == static_cast<int>(Outcome::ok));
    BOOST_TEST(ch.out == "ok", ch.out);
    BOOST_TEST(ch.calls_with_gil == 0);
  }
}

BOOST_AUTO_TEST_CASE(input_streams_without_reading_whole_body) {
  FakeChannel ch;
  ch.body = "first line\n" + std::string(1 << 20, 'z');
  ch.chunk_sizes = {4096};
  run_source(R"PY(
def application(environ, start_response):
    line = environ['wsgi.input'].readline()
    start_response('200 OK', [])
    return [line]
)PY",
             ch);
  BOOST_TEST(ch.out == "first line\n");
  BOOST_TEST(ch.body_pos <= 8192u);
}

BOOST_AUTO_TEST_CASE(input_iteration_and_read_all) {
  FakeChannel ch;
  ch.body = "a\nbb\nccc";
  ch.chunk_sizes = {2};
  run_source(R"PY(
def application(environ, start_response):
    lines = list(environ['wsgi.input'])
    start_response('200 OK', [])
    return [repr(lines).encode(), environ['wsgi.input'].read()]
)PY",
             ch);
  BOOST_TEST(ch.out == "[b'a\\n', b'bb\\n', b'ccc']");
}

BOOST_AUTO_TEST_CASE(read_error_becomes_oserror) {
  FakeChannel ch;
  ch.body = "data";
  ch.read_error = "timed out reading the body";
  run_source(R"PY(
def application(environ, start_response):
    try:
        environ['wsgi.input'].read(10)
        result = b'no error'
    except OSError as e:
        result = str(e).encode()
    start_response('200 OK', [])
    return [result]
)PY",
             ch);
  BOOST_TEST(ch.out.find("timed out reading the body") != std::string::npos, ch.out);
}

BOOST_AUTO_TEST_CASE(input_unusable_after_request) {
  FakeChannel ch;
  TempScript script(R"PY(
kept = []
def application(environ, start_response):
    if kept:
        try:
            kept[0].read(1)
            msg = b'read worked'
        except ValueError as e:
            msg = str(e).encode()
    else:
        msg = b'first'
    kept.append(environ['wsgi.input'])
    start_response('200 OK', [])
    return [msg]
)PY");
  run(script.path(), ch);
  FakeChannel second;
  run(script.path(), second);
  BOOST_TEST(second.out.find("after its request completed") != std::string::npos, second.out);
}

BOOST_AUTO_TEST_CASE(wsgi_errors_lines_go_to_channel_log) {
  FakeChannel ch;
  run_source(R"PY(
def application(environ, start_response):
    errors = environ['wsgi.errors']
    errors.write('line one\nline ')
    errors.writelines(['two\n', 'partial'])
    start_response('200 OK', [])
    return [b'']
)PY",
             ch);
  BOOST_TEST(ch.logged("GANTRY0112: line one", Level::error));
  BOOST_TEST(ch.logged("GANTRY0112: line two"));
  BOOST_TEST(ch.logged("GANTRY0112: partial"), ch.all_logs());
  BOOST_TEST(ch.calls_with_gil == 0);
}

// wsgi.errors: a text stream (as mod_wsgi's io.TextIOWrapper) over a binary .buffer that
// takes bytes, bytearray and memoryview (mod_wsgi 6); all of it reaches the request's log.
BOOST_AUTO_TEST_CASE(wsgi_errors_is_a_text_stream_over_a_binary_buffer) {
  FakeChannel ch;
  run_source(R"PY(
import io
def application(environ, start_response):
    errors = environ['wsgi.errors']
    facts = [errors.name, errors.encoding, errors.errors, str(errors.line_buffering),
             str(isinstance(errors, io.TextIOBase)), str(isinstance(errors.buffer, io.BufferedIOBase)),
             str(errors.buffer is errors.buffer)]
    for bad in (b'bytes', 5):
        try:
            errors.write(bad)
        except TypeError:
            facts.append('TypeError')
    try:
        errors.buffer.write(5)
    except TypeError:
        facts.append('buffer TypeError')
    try:
        errors.read()
    except io.UnsupportedOperation:
        facts.append('UnsupportedOperation')
    errors.write('text ')
    errors.buffer.write(b'bytes ')
    errors.buffer.write(bytearray(b'bytearray '))
    errors.buffer.write(memoryview(b'memoryview\n'))
    errors.buffer.writelines([b'lines: ', bytearray(b'one '), memoryview(b'two\n'), b'tail'])
    start_response('200 OK', [])
    return [' '.join(facts).encode()]
)PY",
             ch);
  BOOST_TEST(ch.out == "<wsgi.errors> utf-8 replace True True True True TypeError TypeError buffer TypeError "
                       "UnsupportedOperation",
             ch.out << ch.all_logs());
  BOOST_TEST(ch.logged("GANTRY0112: text bytes bytearray memoryview", Level::error), ch.all_logs());
  BOOST_TEST(ch.logged("GANTRY0112: lines: one two"), ch.all_logs());
  BOOST_TEST(ch.logged("GANTRY0112: tail"), ch.all_logs());  // the partial line, at request end
}

BOOST_AUTO_TEST_SUITE_END()
