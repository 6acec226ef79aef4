// Response iteration: close(), errors before/after headers, client gone, Content-Length,
// non-bytes items, wsgi.file_wrapper with send_file and the fallback.
#include <boost/test/unit_test.hpp>
#include <fstream>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

int outcome(Outcome o) { return static_cast<int>(o); }

// An iterable whose close() leaves a trace in the request log.
const char* kClosingIterable = R"PY(
class Body:
    def __init__(self, environ, fail_at):
        self.errors = environ['wsgi.errors']
        self.fail_at = fail_at
        self.n = 0
    def __iter__(self):
        return self
    def __next__(self):
        self.n += 1
        if self.n == self.fail_at:
            raise RuntimeError('app failed at item %d' % self.n)
        if self.n > 5:
            raise StopIteration
        return b'item%d;' % self.n
    def close(self):
        self.errors.write('close() called\n')

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Body(environ, int(environ.get('FAIL_AT', '0')))
)PY";

}  // namespace

BOOST_AUTO_TEST_SUITE(response_iteration)

BOOST_AUTO_TEST_CASE(iterable_is_sent_and_closed) {
  FakeChannel ch;
  BOOST_TEST(outcome(run_source(kClosingIterable, ch)) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "item1;item2;item3;item4;item5;");
  BOOST_TEST(ch.logged("close() called"));
  BOOST_TEST(ch.calls_with_gil == 0);
}

BOOST_AUTO_TEST_CASE(error_before_headers_is_500_and_closes) {
  FakeChannel ch;
  ch.set_env("FAIL_AT", "1");
  TempScript script(kClosingIterable);
  BOOST_TEST(outcome(run(script.path(), ch)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.start_calls == 0);
  BOOST_TEST(ch.logged("close() called"));
  BOOST_TEST(ch.logged("GANTRY0109: Exception occurred processing WSGI script '" + script.path() + "'", Level::error));
  BOOST_TEST(ch.logged("RuntimeError: app failed at item 1"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(error_mid_stream_aborts_and_closes) {
  FakeChannel ch;
  ch.set_env("FAIL_AT", "3");
  BOOST_TEST(outcome(run_source(kClosingIterable, ch)) == outcome(Outcome::aborted));
  BOOST_TEST(ch.out == "item1;item2;");
  BOOST_TEST(ch.logged("close() called"));
  BOOST_TEST(ch.logged("GANTRY0109: Exception occurred processing WSGI script"));
  // Every traceback line carries the id.
  BOOST_TEST(ch.logged("GANTRY0109: Traceback (most recent call last):"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(client_gone_stops_closes_and_logs_quietly) {
  FakeChannel ch;
  ch.fail_on_write = 2;
  BOOST_TEST(outcome(run_source(kClosingIterable, ch)) == outcome(Outcome::aborted));
  BOOST_TEST(ch.out == "item1;");
  BOOST_TEST(ch.logged("close() called"));
  BOOST_TEST(ch.logged("GANTRY0114", Level::info), ch.all_logs());
  BOOST_TEST(ch.errors_logged("GANTRY0112") == 0, ch.all_logs());  // only close()'s own wsgi.errors line
  BOOST_TEST(!ch.logged("GANTRY0109"));
}

BOOST_AUTO_TEST_CASE(client_gone_during_write_raises_in_app) {
  FakeChannel ch;
  ch.fail_on_write = 1;
  Outcome o = run_source(R"PY(
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'x')
    return [b'never']
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::aborted));
  BOOST_TEST(!ch.logged("GANTRY0109"));
  BOOST_TEST(ch.logged("GANTRY0114", Level::info));
}

BOOST_AUTO_TEST_CASE(exception_in_app_call_is_500_with_traceback) {
  FakeChannel ch;
  TempScript script(R"PY(
def helper():
    raise ZeroDivisionError('division by zero in helper')
def application(environ, start_response):
    helper()
)PY");
  BOOST_TEST(outcome(run(script.path(), ch)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("Exception occurred processing WSGI script '" + script.path() + "'"));
  BOOST_TEST(ch.logged("GANTRY0109: ZeroDivisionError: division by zero in helper"), ch.all_logs());
  BOOST_TEST(ch.logged("in helper"));
}

BOOST_AUTO_TEST_CASE(no_start_response_is_500) {
  FakeChannel ch;
  BOOST_TEST(outcome(run_source("def application(e, s):\n    return []\n", ch)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("GANTRY0117"));
  FakeChannel ch2;
  BOOST_TEST(outcome(run_source("def application(e, s):\n    return [b'x']\n", ch2)) ==
             outcome(Outcome::server_error));
  BOOST_TEST(ch2.start_calls == 0);
}

BOOST_AUTO_TEST_CASE(non_bytes_items) {
  FakeChannel ch;
  BOOST_TEST(outcome(run_source("def application(e, s):\n    s('200 OK', [])\n    return ['text']\n", ch)) ==
             outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("TypeError: sequence of byte string values expected, value of type str found"),
             ch.all_logs());
  FakeChannel ch2;
  BOOST_TEST(outcome(run_source("def application(e, s):\n    s('200 OK', [])\n    return [b'ok', 42]\n", ch2)) ==
             outcome(Outcome::aborted));
  BOOST_TEST(ch2.out == "ok");
}

BOOST_AUTO_TEST_CASE(content_length_excess_is_cut_and_logged_once) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '7')])
    return [b'hello', b' world', b'!!!']
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "hello w");
  BOOST_TEST(ch.count_logged("GANTRY0115") == 1);
}

BOOST_AUTO_TEST_CASE(content_length_shortfall_aborts) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '10')])
    return [b'abc']
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::aborted));
  BOOST_TEST(ch.count_logged("GANTRY0116") == 1);  // the one line for it, nothing else repeats it
  FakeChannel head;
  head.set_env("REQUEST_METHOD", "HEAD");
  o = run_source(R"PY(
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '10')])
    return []
)PY",
                 head);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok));
}

BOOST_AUTO_TEST_CASE(file_wrapper_uses_send_file_from_current_position) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>('a' + i % 26);
  const std::string data_path = temp_dir() + "/data.bin";
  std::ofstream(data_path) << data;
  const std::string app = "DATA = " + std::string("'") + data_path + "'\n" + R"PY(
import sys
class Traced:
    def __init__(self, f): self.f = f
    def fileno(self): return self.f.fileno()
    def tell(self): return self.f.tell()
    def read(self, n=-1): return self.f.read(n)
    def close(self):
        sys.stderr.write('data file closed\n')
        self.f.close()
def application(environ, start_response):
    f = open(DATA, 'rb')
    f.read(10)
    headers = [('Content-Type', 'application/octet-stream')]
    if 'LIMIT' in environ:
        headers.append(('Content-Length', environ['LIMIT']))
    start_response('200 OK', headers)
    return environ['wsgi.file_wrapper'](Traced(f), 1000)
)PY";
  {
    FakeChannel ch;
    BOOST_TEST(outcome(run_source(app, ch)) == outcome(Outcome::ok));
    BOOST_TEST(ch.send_file_calls == 1);
    BOOST_TEST(ch.last_send_file.first == 10u);
    BOOST_TEST(ch.last_send_file.second == data.size() - 10);
    BOOST_TEST(ch.out == data.substr(10));
    BOOST_TEST(process_logger().logged("GANTRY0111: data file closed"));
  }
  {
    FakeChannel ch;
    ch.set_env("LIMIT", "100");
    run_source(app, ch);
    BOOST_TEST(ch.last_send_file.second == 100u);
    BOOST_TEST(ch.out == data.substr(10, 100));
  }
  {
    FakeChannel ch;  // channel without sendfile: blocks are read and written
    ch.sendfile_supported = false;
    BOOST_TEST(outcome(run_source(app, ch)) == outcome(Outcome::ok));
    BOOST_TEST(ch.send_file_calls == 1);
    BOOST_TEST(ch.out == data.substr(10));
    BOOST_TEST(ch.writes == 5);  // 4990 bytes in 1000-byte blocks
  }
  {
    FakeChannel ch;  // no descriptor at all: plain iteration
    run_source(R"PY(
import io
def application(environ, start_response):
    start_response('200 OK', [])
    return environ['wsgi.file_wrapper'](io.BytesIO(b'x' * 10000))
)PY",
               ch);
    BOOST_TEST(ch.send_file_calls == 0);
    BOOST_TEST(ch.out == std::string(10000, 'x'));
  }
}

BOOST_AUTO_TEST_CASE(wsgiref_validator_runs_clean) {
  FakeChannel ch;
  ch.body = "name=value";
  ch.set_env("REQUEST_METHOD", "POST");
  ch.set_env("CONTENT_LENGTH", "10");
  ch.set_env("CONTENT_TYPE", "application/x-www-form-urlencoded");
  ch.set_env("HTTP_HOST", "localhost");
  Outcome o = run_source(R"PY(
import warnings
from wsgiref.validate import validator, WSGIWarning
warnings.simplefilter('error', WSGIWarning)

def app(environ, start_response):
    body = environ['wsgi.input'].read(int(environ['CONTENT_LENGTH']))
    environ['wsgi.errors'].write('validator app saw %d bytes\n' % len(body))
    environ['wsgi.errors'].flush()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]

application = validator(app)
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok), ch.all_logs());
  BOOST_TEST(ch.out == "name=value");
  BOOST_TEST(ch.logged("validator app saw 10 bytes"));
  BOOST_TEST(ch.errors_logged("GANTRY0112") == 0, ch.all_logs());
  BOOST_TEST(!process_logger().logged("AssertionError"), process_logger().all());
}

// mod_wsgi.RequestTimeout (mod_wsgi 6): a BaseException, so `except Exception:` lets it
// through; the request is answered 504 with one info line, no traceback at error level.
BOOST_AUTO_TEST_CASE(request_timeout_from_the_app_is_a_gateway_timeout) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
import mod_wsgi
def application(environ, start_response):
    assert not issubclass(mod_wsgi.RequestTimeout, Exception)
    start_response('200 OK', [('X-Started', '1')])
    try:
        raise mod_wsgi.RequestTimeout('gave up waiting for the backend')
    except Exception:
        return [b'swallowed']
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::ok), ch.all_logs());
  BOOST_TEST(ch.status == "504 Gateway Timeout");
  BOOST_TEST(!ch.header("X-Started"));
  BOOST_TEST(ch.out == "Gateway Timeout: the request took too long.\n");
  BOOST_TEST(ch.logged("GANTRY0130: ", Level::info), ch.all_logs());
  BOOST_TEST(ch.logged("gave up waiting for the backend"), ch.all_logs());
  BOOST_TEST(ch.count_logged("GANTRY") == 2, ch.all_logs());  // the load line and the timeout line
  BOOST_TEST(ch.errors_logged() == 0, ch.all_logs());
}

BOOST_AUTO_TEST_CASE(request_timeout_after_output_cuts_the_response) {
  FakeChannel ch;
  Outcome o = run_source(R"PY(
import mod_wsgi
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'partial'
    raise mod_wsgi.RequestTimeout()
)PY",
                         ch);
  BOOST_TEST(outcome(o) == outcome(Outcome::aborted), ch.all_logs());
  BOOST_TEST(ch.out == "partial");
  BOOST_TEST(ch.logged("GANTRY0130: ", Level::info), ch.all_logs());
  BOOST_TEST(ch.errors_logged() == 0, ch.all_logs());
}

BOOST_AUTO_TEST_SUITE_END()
