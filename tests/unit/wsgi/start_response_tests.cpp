// start_response(): argument validation and the PEP 3333 exc_info rules; write().
#include <boost/test/unit_test.hpp>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

int outcome(Outcome o) { return static_cast<int>(o); }

}  // namespace

BOOST_AUTO_TEST_SUITE(start_response_rules)

BOOST_AUTO_TEST_CASE(invalid_arguments_raise_and_never_reach_the_channel) {
  FakeChannel ch;
  run_source(R"PY(
CASES = [
    ('200', [], ValueError),
    (200, [], TypeError),
    (b'200 OK', [], TypeError),
    ('2000 OK', [], ValueError),
    ('200OK', [], ValueError),
    ('099 Low', [], ValueError),
    ('20x OK', [], ValueError),
    ('200 O\nK', [], ValueError),
    ('200 \u20ac', [], ValueError),
    ('200 OK', (('A', 'b'),), TypeError),
    ('200 OK', [('A', 'b', 'c')], ValueError),
    ('200 OK', [('A',)], ValueError),
    ('200 OK', ['A: b'], TypeError),
    ('200 OK', {'A': 'b'}, TypeError),
    ('200 OK', [['A', 'b']], TypeError),
    ('200 OK', [('A', 1)], TypeError),
    ('200 OK', [(b'A', 'b')], TypeError),
    ('200 OK', [('Bad Name', 'x')], ValueError),
    ('200 OK', [('Bad:Name', 'x')], ValueError),
    ('200 OK', [('', 'x')], ValueError),
    ('200 OK', [('X-CR', 'a\rb')], ValueError),
    ('200 OK', [('X-LF', 'a\nb')], ValueError),
    ('200 OK', [('X-CRLF', 'a\r\nSet-Cookie: evil')], ValueError),
    ('200 OK', [('X-NUL', 'a\x00b')], ValueError),
    ('200 OK', [('X-DEL', 'a\x7fb')], ValueError),
    ('200 OK', [('X-Euro', '\u20ac')], ValueError),
    ('200 OK', [('Connection', 'close')], ValueError),
    ('200 OK', [('keep-alive', 'timeout=5')], ValueError),
    ('200 OK', [('Transfer-Encoding', 'chunked')], ValueError),
    ('200 OK', [('Upgrade', 'websocket')], ValueError),
    ('200 OK', [('TE', 'trailers')], ValueError),
    ('200 OK', [('Trailers', 'x')], ValueError),
    ('200 OK', [('Proxy-Authenticate', 'x')], ValueError),
    ('200 OK', [('Proxy-Authorization', 'x')], ValueError),
    ('200 OK', [('Content-Length', 'ten')], ValueError),
]
def application(environ, start_response):
    problems = []
    for status, headers, expected in CASES:
        try:
            start_response(status, headers)
            problems.append('accepted %r %r' % (status, headers))
        except expected as e:
            for item in (headers if isinstance(headers, list) else []):
                if type(item) is tuple and len(item) == 2 and type(item[0]) is str and item[0] and type(item[1]) is str:
                    if item[0] not in str(e):
                        problems.append('message %r does not name %r' % (str(e), item[0]))
        except Exception as e:
            problems.append('%r %r raised %r' % (status, headers, e))
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Tab', 'a\tb'), ('X-Latin', 'caf\xe9')])
    return [('\n'.join(problems) or 'ok').encode()]
)PY",
             ch);
  BOOST_TEST(ch.out == "ok", ch.out << ch.all_logs());
  BOOST_TEST(ch.start_calls == 1);
  BOOST_TEST(ch.status == "200 OK");
  BOOST_TEST(ch.headers.size() == 3u);
  BOOST_TEST(ch.header("X-Tab").value_or("") == "a\tb");
  BOOST_TEST(ch.header("X-Latin").value_or("") == "caf\xe9");
}

// mod_wsgi 4.9.4: before any output a second call replaces the response, exc_info or not.
BOOST_AUTO_TEST_CASE(second_call_before_output_replaces_the_response) {
  FakeChannel ch;
  run_source(R"PY(
def application(environ, start_response):
    start_response('200 OK', [('X-First', '1')])
    start_response('404 Not Found', [('X-Second', '1')])
    return [b'replaced']
)PY",
             ch);
  BOOST_TEST(ch.out == "replaced", ch.all_logs());
  BOOST_TEST(ch.status == "404 Not Found");
  BOOST_TEST(!ch.header("X-First"));
  BOOST_TEST(ch.header("X-Second").value_or("") == "1");
  BOOST_TEST(ch.start_calls == 1);
}

BOOST_AUTO_TEST_CASE(second_call_after_output_without_exc_info_raises_runtime_error) {
  FakeChannel ch;
  run_source(R"PY(
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'sent;')
    for exc_info in (None, (None, None, None)):
        try:
            start_response('404 Not Found', [], exc_info)
            write(b'accepted;')
        except RuntimeError:
            write(b'refused;')
    return []
)PY",
             ch);
  BOOST_TEST(ch.out == "sent;refused;refused;", ch.all_logs());
  BOOST_TEST(ch.status == "200 OK");
}

BOOST_AUTO_TEST_CASE(exc_info_that_is_not_a_tuple_raises_runtime_error) {
  FakeChannel ch;
  run_source(R"PY(
def application(environ, start_response):
    results = []
    for exc_info in ('x', [None, None, None]):
        try:
            start_response('500 Oops', [], exc_info)
            results.append('accepted')
        except RuntimeError as e:
            results.append('RuntimeError' if type(exc_info).__name__ in str(e) else 'unclear: %s' % e)
    write = start_response('200 OK', [])
    write(b'sent;')
    try:
        start_response('500 Oops', [], 'x')
    except RuntimeError:
        results.append('RuntimeError after output')
    return [';'.join(results).encode()]
)PY",
             ch);
  BOOST_TEST(ch.out == "sent;RuntimeError;RuntimeError;RuntimeError after output", ch.all_logs());
}

BOOST_AUTO_TEST_CASE(exc_info_before_headers_replaces_the_response) {
  FakeChannel ch;
  run_source(R"PY(
import sys
def application(environ, start_response):
    start_response('200 OK', [('X-First', '1')])
    try:
        raise ValueError('boom')
    except ValueError:
        start_response('500 Internal Server Error', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'error page']
)PY",
             ch);
  BOOST_TEST(ch.status == "500 Internal Server Error");
  BOOST_TEST(!ch.header("X-First"));
  BOOST_TEST(ch.out == "error page");
}

BOOST_AUTO_TEST_CASE(exc_info_after_headers_reraises) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
import sys
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'partial'
    try:
        raise KeyError('original problem')
    except KeyError:
        try:
            start_response('500 Oops', [], sys.exc_info())
        except KeyError as e:
            yield b' reraised:' + str(e).encode()
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "partial reraised:'original problem'");
  BOOST_TEST(ch.status == "200 OK");
}

BOOST_AUTO_TEST_CASE(write_callable_sends_in_order) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'a')
    write(b'b')
    try:
        write('text')
    except TypeError:
        write(b'-')
    return [b'c']
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "ab-c");
  BOOST_TEST(ch.writes_before_start == 0);
  BOOST_TEST(ch.flushes >= 2);
  BOOST_TEST(ch.calls_with_gil == 0);
}

BOOST_AUTO_TEST_CASE(empty_body_sends_headers_at_the_end) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
def application(environ, start_response):
    start_response('204 No Content', [])
    return []
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok));
  BOOST_TEST(ch.start_calls == 1);
  BOOST_TEST(ch.status == "204 No Content");
}

BOOST_AUTO_TEST_CASE(headers_wait_for_first_non_empty_chunk) {
  FakeChannel ch;
  run_source(R"PY(
import sys
def application(environ, start_response):
    start_response('200 OK', [])
    yield b''
    start_response('503 Later', [], (ValueError, ValueError('x'), None))
    yield b'body'
)PY",
             ch);
  BOOST_TEST(ch.status == "503 Later");
  BOOST_TEST(ch.out == "body");
}

BOOST_AUTO_TEST_SUITE_END()
