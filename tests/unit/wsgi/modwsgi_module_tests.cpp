// The mod_wsgi Python API in the adapter (core/wsgi/modwsgi_module.cpp, request_events.cpp,
// request_context.cpp, process_metrics.cpp), driven over the fake channel: events and their
// order, request_data() and active_requests, metrics, the apache module.
#include <boost/test/unit_test.hpp>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

int outcome(Outcome o) { return static_cast<int>(o); }

// Subscribers are per interpreter and stay for its life: each test uses an application group
// of its own so they never see another test's requests.
RunOptions own_group() {
  static int n = 0;
  return RunOptions{.group = "modwsgi-api-" + std::to_string(++n)};
}

// A request with the ids the Apache child would pass.
void as_request(FakeChannel& ch, const std::string& id, const std::string& body = "") {
  ch.set_env("mod_wsgi.request_id", id);
  ch.set_env("mod_wsgi.request_start", "1700000000000000");
  ch.body = body;
}

// An app whose subscriber records the events it sees; /show answers with what it recorded
// for the request id in QUERY_STRING.
const char* kRecorder = R"PY(
import mod_wsgi
seen = {}
def record(name, **event):
    if name == 'process_stopping':
        return None
    seen.setdefault(event.get('request_id'), []).append((name, sorted(event), event))
mod_wsgi.subscribe_events(record)
def application(environ, start_response):
    if environ['PATH_INFO'] == '/raise':
        raise ValueError('boom')
    if environ['PATH_INFO'] == '/show':
        out = []
        for name, keys, event in seen.get(environ['QUERY_STRING'], []):
            extra = ''
            if name == 'request_finished':
                extra = 'in=%d/%d out=%d status=%d thread=%d start=%.0f' % (
                    event['input_reads'], event['input_length'], event['output_length'], event['status'],
                    event['thread_id'], event['request_start'])
            if name == 'request_exception':
                extra = repr(event['exception_info'][1])
            out.append('%s %s %s' % (name, ','.join(keys), extra))
        start_response('200 OK', [])
        return ['\n'.join(out).encode()]
    environ['wsgi.input'].read()
    start_response('200 OK', [('X-A', 'b')])
    return [b'hello']
)PY";

std::string show(const TempScript& script, const std::string& id, const RunOptions& group) {
  FakeChannel ch;
  as_request(ch, "show-" + id);
  ch.set_env("PATH_INFO", "/show");
  ch.set_env("QUERY_STRING", id);
  BOOST_REQUIRE(outcome(run(script.path(), ch, group)) == outcome(Outcome::ok));
  return ch.out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(modwsgi_module)

BOOST_AUTO_TEST_CASE(events_in_order_with_keys_and_metered_io) {
  TempScript script(kRecorder);
  FakeChannel ch;
  as_request(ch, "r1", std::string(300, 'x'));
  ch.chunk_sizes = {100};
  const RunOptions group = own_group();
  BOOST_REQUIRE(outcome(run(script.path(), ch, group)) == outcome(Outcome::ok));
  const std::string seen = show(script, "r1", group);
  // The first request of the script is observed too: it subscribed while being imported.
  const auto started = seen.find("request_started application_object,application_start,daemon_connects,"
                                 "daemon_restarts,daemon_start,queue_start,request_data,request_environ,"
                                 "request_id,request_start,thread_id");
  const auto response = seen.find("response_started exception_info,request_data,request_id,response_headers,"
                                  "response_status");
  const auto finished = seen.find("request_finished application_finish,application_start,application_time,"
                                  "cpu_system_time,cpu_time,cpu_user_time,daemon_start,input_length,"
                                  "input_reads,input_time,output_length,output_time,output_writes,queue_start,"
                                  "request_data,request_id,request_start,status,thread_id");
  BOOST_TEST(started != std::string::npos, seen);
  BOOST_TEST(response != std::string::npos, seen);
  BOOST_TEST(finished != std::string::npos, seen);
  BOOST_TEST((started < response && response < finished), seen);
  BOOST_TEST(seen.find("in=4/300 out=5 status=200") != std::string::npos, seen);  // 3 reads + the end
  BOOST_TEST(seen.find("start=1700000000") != std::string::npos, seen);
}

BOOST_AUTO_TEST_CASE(request_exception_then_finished_for_an_app_that_raises) {
  TempScript script(kRecorder);
  FakeChannel ch;
  as_request(ch, "r2");
  ch.set_env("PATH_INFO", "/raise");
  const RunOptions group = own_group();
  BOOST_TEST(outcome(run(script.path(), ch, group)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("GANTRY0109"));  // still reported as usual
  const std::string seen = show(script, "r2", group);
  const auto started = seen.find("request_started ");
  const auto exception = seen.find("request_exception exception_info,request_data,request_id ValueError('boom')");
  const auto finished = seen.find("request_finished ");
  BOOST_TEST((started < exception && exception < finished && finished != std::string::npos), seen);
  BOOST_TEST(seen.find("response_started") == std::string::npos, seen);
  BOOST_TEST(seen.find("status=0") != std::string::npos, seen);
}

BOOST_AUTO_TEST_CASE(subscriber_can_wrap_the_application_and_share_request_data) {
  FakeChannel ch;
  as_request(ch, "r3");
  BOOST_REQUIRE(outcome(run_source(R"PY(
import mod_wsgi
def wrap(app):
    def wrapped(environ, start_response):
        return [b'wrapped:'] + list(app(environ, start_response))
    return wrapped
@mod_wsgi.subscribe_events
def started(name, **event):
    if name == 'request_started':
        event['request_data']['by'] = 'subscriber'
        return {'application_object': wrap(event['application_object'])}
def application(environ, start_response):
    data = mod_wsgi.request_data()
    active = mod_wsgi.active_requests
    start_response('200 OK', [])
    return [('%s %s %s' % (data['by'], sorted(active), active['r3'] is data)).encode()]
)PY",
                                   ch, own_group())) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "wrapped:subscriber ['r3'] True");
}

BOOST_AUTO_TEST_CASE(a_raising_callback_is_logged_and_the_request_goes_on) {
  FakeChannel ch;
  as_request(ch, "r4");
  BOOST_REQUIRE(outcome(run_source(R"PY(
import mod_wsgi
def bad(name, **event):
    raise KeyError('from the callback')
mod_wsgi.subscribe_events(bad)
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'fine']
)PY",
                                   ch, own_group())) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "fine");
  BOOST_TEST(ch.logged("GANTRY0140: Exception in mod_wsgi event callback for 'request_started'"), ch.all_logs());
  BOOST_TEST(ch.logged("KeyError: 'from the callback'"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(request_data_outside_a_request_is_a_runtime_error) {
  FakeChannel ch;
  as_request(ch, "r5");
  BOOST_REQUIRE(outcome(run_source(R"PY(
import mod_wsgi, threading
result = []
try:
    mod_wsgi.request_data()  # while the script is imported: no request yet (as mod_wsgi)
    result.append('import: no error')
except RuntimeError:
    pass
def outside():
    try:
        mod_wsgi.request_data()
        result.append('no error')
    except RuntimeError as e:
        result.append('RuntimeError')
def application(environ, start_response):
    t = threading.Thread(target=outside)
    t.start(); t.join()
    start_response('200 OK', [])
    return [result[0].encode()]
)PY",
                                   ch, own_group())) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "RuntimeError");
}

BOOST_AUTO_TEST_CASE(metrics_have_mod_wsgi_keys) {
  FakeChannel ch;
  as_request(ch, "r6");
  BOOST_REQUIRE(outcome(run_source(R"PY(
import mod_wsgi
def application(environ, start_response):
    pm = mod_wsgi.process_metrics()
    first = mod_wsgi.request_metrics()
    second = mod_wsgi.request_metrics()
    start_response('200 OK', [])
    return [('%s|%s|%s|%s|%d|%s' % (','.join(sorted(pm)), first, len(second['application_time_buckets']),
             second['queue_time'] is None, pm['active_requests'], mod_wsgi.server_metrics())).encode()]
)PY",
                                   ch, own_group())) == outcome(Outcome::ok));
  // The fixture's settings name no scoreboard (like a daemon process): server_metrics() is None.
  // request_metrics(): its first call may come after process_metrics() started the interval.
  BOOST_TEST(ch.out.rfind("active_requests,cpu_system_time,cpu_user_time,current_time,memory_max_rss,memory_rss,"
                          "pid,request_busy_time,request_count,request_threads,restart_time,running_time,threads|",
                          0) == 0,
             ch.out);
  BOOST_TEST(ch.out.find("|16|False|1|None") != std::string::npos, ch.out);
}

BOOST_AUTO_TEST_CASE(apache_module_and_group_figures_come_from_the_settings) {
  FakeChannel ch;
  as_request(ch, "r7");
  BOOST_REQUIRE(outcome(run_source(R"PY(
import mod_wsgi, apache
def application(environ, start_response):
    start_response('200 OK', [])
    return [repr((mod_wsgi.process_group, mod_wsgi.maximum_processes, mod_wsgi.threads_per_process,
                  apache.mpm_name, apache.version, callable(mod_wsgi.subscribe_shutdown),
                  mod_wsgi.shutdown_callbacks)).encode()]
)PY",
                                   ch, own_group())) == outcome(Outcome::ok));
  BOOST_TEST(ch.out == "('testgroup', 1, 1, '', (), True, [])");
}

BOOST_AUTO_TEST_SUITE_END()
