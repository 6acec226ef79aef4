// Script loading/reloading, application groups as sub-interpreters, the process-level
// Python setup (stdio, restrictions, mod_wsgi module), threads, fork and shutdown.
#include <Python.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <future>
#include <thread>

#include "wsgi_test_support.hpp"

using namespace gantry;
using namespace gantry::test;

namespace {

int outcome(Outcome o) { return static_cast<int>(o); }

const char* kCounterApp = R"PY(
import sys, mod_wsgi
count = 0
def application(environ, start_response):
    global count
    count += 1
    start_response('200 OK', [])
    return [('%s|%d|%s' % (mod_wsgi.application_group, count, __name__)).encode()]
)PY";

std::string md5_module_name(const std::string& path) {
  // Computed by the embedded Python itself via a tiny app (hashlib is what mod_wsgi's
  // ap_md5 matches: lowercase hex of the path bytes).
  FakeChannel ch;
  ch.set_env("P", path);
  run_source(R"PY(
import hashlib
def application(environ, start_response):
    start_response('200 OK', [])
    return [('_mod_wsgi_' + hashlib.md5(environ['P'].encode()).hexdigest()).encode()]
)PY",
             ch);
  return ch.out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scripts_and_interpreters)

BOOST_AUTO_TEST_CASE(missing_script_is_not_found) {
  FakeChannel ch;
  const std::string path = temp_dir() + "/does-not-exist.wsgi";
  BOOST_TEST(outcome(run(path, ch)) == outcome(Outcome::not_found));
  BOOST_TEST(ch.logged("GANTRY0124: Unable to stat WSGI script '" + path + "': No such file or directory"),
             ch.all_logs());
  BOOST_TEST(ch.start_calls == 0);
}

BOOST_AUTO_TEST_CASE(syntax_error_is_server_error_with_traceback) {
  FakeChannel ch;
  TempScript script("def application(environ, start_response)\n    return []\n");
  BOOST_TEST(outcome(run(script.path(), ch)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("GANTRY0107: Failed to load WSGI script '" + script.path() + "'"), ch.all_logs());
  BOOST_TEST(ch.logged("GANTRY0107: SyntaxError"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(exception_at_import_is_server_error) {
  FakeChannel ch;
  TempScript script("import no_such_module_anywhere\n");
  BOOST_TEST(outcome(run(script.path(), ch)) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("ModuleNotFoundError: No module named 'no_such_module_anywhere'"), ch.all_logs());
}

BOOST_AUTO_TEST_CASE(missing_callable_is_server_error_naming_it) {
  FakeChannel ch;
  TempScript script("def app(environ, start_response):\n    return []\n");
  BOOST_TEST(outcome(run(script.path(), ch, {.callable = "wsgi_app"})) == outcome(Outcome::server_error));
  BOOST_TEST(ch.logged("GANTRY0108"));
  BOOST_TEST(ch.logged(script.path()));
  BOOST_TEST(ch.logged("'wsgi_app'"), ch.all_logs());
  FakeChannel ok;
  run(script.path(), ok, {.callable = "app"});  // WSGICallableObject app
  BOOST_TEST(ok.logged("GANTRY0117"));         // found and called (returned without start_response)
}

BOOST_AUTO_TEST_CASE(module_named_like_mod_wsgi_and_loaded_once) {
  TempScript script(kCounterApp);
  FakeChannel a, b;
  run(script.path(), a);
  run(script.path(), b);
  const std::string name = md5_module_name(script.path());
  BOOST_TEST(a.out == "|1|" + name);
  BOOST_TEST(b.out == "|2|" + name);
}

BOOST_AUTO_TEST_CASE(application_groups_have_separate_state) {
  TempScript script(kCounterApp);
  FakeChannel a1, a2, b1, main1;
  run(script.path(), a1, {.group = "group-a"});
  run(script.path(), a2, {.group = "group-a"});
  run(script.path(), b1, {.group = "group-b"});
  run(script.path(), main1);
  BOOST_TEST(a1.out.substr(0, 10) == "group-a|1|");
  BOOST_TEST(a2.out.substr(0, 10) == "group-a|2|");
  BOOST_TEST(b1.out.substr(0, 10) == "group-b|1|");
  BOOST_TEST(main1.out.substr(0, 3) == "|1|");
  BOOST_TEST(a1.logged("GANTRY0103: Created Python sub-interpreter for application group 'group-a'"), a1.all_logs());
}

BOOST_AUTO_TEST_CASE(sub_interpreters_are_really_separate) {
  TempScript script(R"PY(
import sys
def application(environ, start_response):
    marker = getattr(sys, 'gantry_marker', None)
    sys.gantry_marker = environ['MARK']
    start_response('200 OK', [])
    return [repr(marker).encode()]
)PY");
  FakeChannel x1, y1, x2;
  x1.set_env("MARK", "x");
  y1.set_env("MARK", "y");
  x2.set_env("MARK", "x2");
  run(script.path(), x1, {.group = "iso-x"});
  run(script.path(), y1, {.group = "iso-y"});
  run(script.path(), x2, {.group = "iso-x"});
  BOOST_TEST(x1.out == "None");
  BOOST_TEST(y1.out == "None");
  BOOST_TEST(x2.out == "'x'");
}

BOOST_AUTO_TEST_CASE(reload_on_mtime_change) {
  TempScript script("def application(e, s):\n    s('200 OK', [])\n    return [b'v1']\n");
  FakeChannel first;
  run(script.path(), first, {.group = "reload"});
  BOOST_TEST(first.out == "v1");
  script.rewrite("def application(e, s):\n    s('200 OK', [])\n    return [b'v2']\n", 5);
  FakeChannel without_reloading;
  run(script.path(), without_reloading, {.group = "reload"});
  BOOST_TEST(without_reloading.out == "v1");
  FakeChannel with_reloading;
  run(script.path(), with_reloading, {.group = "reload", .reload = true});
  BOOST_TEST(with_reloading.out == "v2");
  BOOST_TEST(with_reloading.logged("GANTRY0106"));
  FakeChannel unchanged;
  run(script.path(), unchanged, {.group = "reload", .reload = true});
  BOOST_TEST(unchanged.out == "v2");
  BOOST_TEST(!unchanged.logged("GANTRY0106"));
}

// A module that defines reload_required(resource) is asked on every request (with
// reloading on) whether to reload; True reloads once.
BOOST_AUTO_TEST_CASE(reload_required_true_reloads_once) {
  TempScript script(R"PY(
import sys
sys.hook_loads = getattr(sys, 'hook_loads', 0) + 1
asked = []
def reload_required(resource):
    asked.append(resource)
    return getattr(sys, 'want_reload', False)
def application(environ, start_response):
    want = environ.get('QUERY_STRING') == 'want'
    sys.want_reload = want
    start_response('200 OK', [])
    return [('%d:%s' % (sys.hook_loads, asked[-1] if asked else '-')).encode()]
)PY");
  auto request = [&](bool reload, const char* query = "") {
    FakeChannel ch;
    ch.set_env("QUERY_STRING", query);
    run(script.path(), ch, {.group = "reload-hook", .reload = reload});
    return ch.out;
  };
  BOOST_TEST(request(true) == "1:-");  // first load: nothing to ask
  BOOST_TEST(request(true, "want") == "1:" + script.path());  // asked with the script path: no
  BOOST_TEST(request(true) == "2:-");  // asked, said yes: reloaded (a fresh module, nothing asked yet)
  BOOST_TEST(request(true) == "2:" + script.path());  // asked again, says no: kept
  BOOST_TEST(request(false, "want") == "2:" + script.path());
  BOOST_TEST(request(false) == "2:" + script.path());  // WSGIScriptReloading Off: never asked
}

BOOST_AUTO_TEST_CASE(reload_required_exception_is_logged_and_does_not_reload) {
  TempScript script(R"PY(
import sys
sys.raising_loads = getattr(sys, 'raising_loads', 0) + 1
def reload_required(resource):
    raise LookupError('gantry-test reload check failed')
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'%d' % sys.raising_loads]
)PY");
  FakeChannel first, second;
  run(script.path(), first, {.group = "reload-raise", .reload = true});
  run(script.path(), second, {.group = "reload-raise", .reload = true});
  BOOST_TEST(first.out == "1");
  BOOST_TEST(second.out == "1", second.all_logs());
  BOOST_TEST(second.logged("GANTRY0131: Exception in reload_required()", Level::error), second.all_logs());
  BOOST_TEST(second.logged("LookupError: gantry-test reload check failed"), second.all_logs());
  BOOST_TEST(second.logged("Traceback"), second.all_logs());
}

BOOST_AUTO_TEST_CASE(module_without_mtime_is_reloaded) {
  TempScript script(R"PY(
import sys
sys.mtime_loads = getattr(sys, 'mtime_loads', 0) + 1
def application(environ, start_response):
    module = sys.modules[__name__]
    stamp = type(module.__mtime__).__name__
    if environ.get('QUERY_STRING') == 'drop':
        del module.__mtime__
    start_response('200 OK', [])
    return [('%d:%s' % (sys.mtime_loads, stamp)).encode()]
)PY");
  auto request = [&](const char* query) {
    FakeChannel ch;
    ch.set_env("QUERY_STRING", query);
    run(script.path(), ch, {.group = "reload-mtime", .reload = true});
    return ch.out;
  };
  BOOST_TEST(request("") == "1:int");  // __mtime__ is an int (microseconds), as mod_wsgi's
  BOOST_TEST(request("drop") == "1:int");
  BOOST_TEST(request("") == "2:int");
  BOOST_TEST(request("") == "2:int");
}

BOOST_AUTO_TEST_CASE(import_script_preloads) {
  TempScript script(kCounterApp);
  ScriptTarget target;
  target.script_path = script.path();
  target.application_group = "preloaded";
  BOOST_TEST(api().import_script(target));
  FakeChannel ch;
  run(script.path(), ch, {.group = "preloaded"});
  BOOST_TEST(ch.out.substr(0, 12) == "preloaded|1|");
  target.script_path = "/nonexistent/x.wsgi";
  BOOST_TEST(!api().import_script(target));
}

BOOST_AUTO_TEST_CASE(process_level_python_setup) {
  FakeChannel ch;
  run_source(R"PY(
import sys, signal, mod_wsgi
def application(environ, start_response):
    results = []
    print('hello from print')
    sys.stderr.write('hello from stderr\n')
    try:
        sys.stdin.read()
        results.append('stdin readable')
    except OSError as e:
        results.append('stdin: ' + str(e))
    previous = signal.signal(signal.SIGUSR2, lambda *a: None)
    results.append('signal returned %r' % (previous is not None,))
    results.append('version %r' % (mod_wsgi.version,))
    results.append('process_group %r' % (mod_wsgi.process_group,))
    results.append('path %r' % ((sys.path[0].endswith('/lib'), sys.path[1].endswith('/lib2')),))
    start_response('200 OK', [])
    return ['\n'.join(results).encode()]
)PY",
             ch);
  BOOST_TEST(process_logger().logged("GANTRY0110: hello from print"), process_logger().all());
  BOOST_TEST(process_logger().logged("GANTRY0111: hello from stderr"));
  BOOST_TEST(ch.out.find("stdin: sys.stdin access restricted by WSGIRestrictStdin") != std::string::npos,
             ch.out << ch.all_logs());
  BOOST_TEST(process_logger().logged("GANTRY0113"));
  BOOST_TEST(process_logger().logged("WSGIRestrictSignal"));
  BOOST_TEST(ch.out.find("version (4, 9, 4)") != std::string::npos, ch.out);
  BOOST_TEST(ch.out.find("process_group 'testgroup'") != std::string::npos, ch.out);
  BOOST_TEST(ch.out.find("path (True, True)") != std::string::npos, ch.out);
}

// WSGIPythonPath / python-path= entries are site directories (.pth files processed, once per
// interpreter), in front of sys.path in their order, with what their .pth files added.
BOOST_AUTO_TEST_CASE(python_path_entries_are_site_directories) {
  const char* source = R"PY(
import sys
def application(environ, start_response):
    start_response('200 OK', [])
    return [('%r|%r' % (sys.path[:3], getattr(sys, 'gantry_pth_runs', None))).encode()]
)PY";
  const std::string expected =
      "['" + temp_dir() + "/lib', '" + temp_dir() + "/lib2', '" + temp_dir() + "/lib2/pth_added']|1";
  for (const char* group : {"", "pth-sub"}) {
    FakeChannel ch;
    run_source(source, ch, {.group = group});
    BOOST_TEST(ch.out == expected, group << ": " << ch.out << ch.all_logs());
  }
}

// sys.stdout / sys.stderr: text streams shaped like mod_wsgi's io.TextIOWrapper, with a
// binary .buffer, into the process log.
BOOST_AUTO_TEST_CASE(sys_stdout_and_stderr_are_text_streams) {
  FakeChannel ch;
  run_source(R"PY(
import io, sys
def application(environ, start_response):
    facts = []
    for stream in (sys.stdout, sys.stderr):
        facts.append('%s %s %s %s %s %s' % (stream.name, stream.encoding, stream.errors, stream.line_buffering,
                                           isinstance(stream, io.TextIOBase), stream.isatty()))
        try:
            stream.fileno()
        except OSError:
            facts.append('fileno OSError')
    print('print', 'to', 'stdout')
    sys.stdout.write('partial ')
    sys.stdout.buffer.write(b'then bytes\n')
    sys.stderr.buffer.writelines([bytearray(b'stderr '), memoryview(b'bytes\n')])
    sys.stdout.write('lone surrogate \udc80 replaced\n')
    start_response('200 OK', [])
    return ['\n'.join(facts).encode()]
)PY",
             ch);
  BOOST_TEST(ch.out == "<stdout> utf-8 replace True True False\nfileno OSError\n"
                       "<stderr> utf-8 replace True True False\nfileno OSError",
             ch.out << ch.all_logs());
  BOOST_TEST(process_logger().logged("GANTRY0110: print to stdout"), process_logger().all());
  BOOST_TEST(process_logger().logged("GANTRY0110: partial then bytes"), process_logger().all());
  BOOST_TEST(process_logger().logged("GANTRY0111: stderr bytes"), process_logger().all());
  BOOST_TEST(process_logger().logged("GANTRY0110: lone surrogate ? replaced"), process_logger().all());
}

// With no directive, the WSGIRestrict* settings are mod_wsgi 4.9.4's (checked against
// Debian's build): stdin and stdout usable, signal() restricted.
BOOST_AUTO_TEST_CASE(restrict_defaults_are_mod_wsgi_4_9_4s) {
  PythonSettings defaults;
  BOOST_TEST(!defaults.restrict_stdin);
  BOOST_TEST(!defaults.restrict_stdout);
  BOOST_TEST(defaults.restrict_signal);
}

BOOST_AUTO_TEST_CASE(many_threads_many_groups) {
  TempScript script(R"PY(
import threading
def application(environ, start_response):
    start_response('200 OK', [])
    body = environ['wsgi.input'].read()
    return [body, b'|', threading.current_thread().name.encode()]
)PY");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        FakeChannel ch;
        ch.body = "req" + std::to_string(t) + "-" + std::to_string(i);
        ch.chunk_sizes = {3};
        Outcome o = run(script.path(), ch, {.group = (i % 3 == 0) ? "" : (i % 3 == 1 ? "tg1" : "tg2")});
        if (o != Outcome::ok || ch.out.rfind(ch.body + "|", 0) != 0 || ch.calls_with_gil != 0) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(failures.load() == 0);
  FakeChannel after;  // still fine after the threads went away
  BOOST_TEST(outcome(run(script.path(), after, {.group = "tg1"})) == outcome(Outcome::ok));
}

// Threads that all hit a group nobody used before: one of them creates the interpreter and
// loads the script; the others wait for it (without the GIL) and use that module.
BOOST_AUTO_TEST_CASE(concurrent_first_requests_load_a_script_once) {
  TempScript script(R"PY(
import sys, time
sys._gantry_loads = getattr(sys, '_gantry_loads', 0) + 1
time.sleep(0.2)  # keeps the load in progress while the other threads arrive
def application(environ, start_response):
    start_response('200 OK', [])
    return [str(sys._gantry_loads).encode()]
)PY");
  for (const char* group : {"concurrent-a", "concurrent-b"}) {
    std::vector<std::string> outs(6);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < outs.size(); ++t) {
      threads.emplace_back([&, t] {
        FakeChannel ch;
        if (run(script.path(), ch, {.group = group}) != Outcome::ok || ch.calls_with_gil != 0) ++failures;
        outs[t] = ch.out;
      });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST(failures.load() == 0);
    for (const auto& out : outs) BOOST_TEST(out == "1", group);  // executed once in the group
  }
}

// A thread that ran requests may exit while another thread holds the GIL: exiting must
// not need it (it used to free the thread's states, taking the GIL once per interpreter,
// which made Apache's event MPM children slow to stop and crash).
BOOST_AUTO_TEST_CASE(thread_exit_does_not_take_the_gil) {
  TempScript script(kCounterApp);
  struct Job {
    std::string path;
    bool ok = false;
    std::promise<void> served;
    std::promise<void> may_exit;
  } job;
  job.path = script.path();
  auto body = [](void* arg) -> void* {
    auto* j = static_cast<Job*>(arg);
    FakeChannel a, b;
    j->ok = run(j->path, a, {.group = "exiting-thread"}) == Outcome::ok && run(j->path, b) == Outcome::ok;
    j->served.set_value();
    j->may_exit.get_future().wait();
    return nullptr;  // thread-local destructors run after this, with the GIL held elsewhere
  };
  std::future<void> served = job.served.get_future();
  pthread_t thread;
  BOOST_REQUIRE(pthread_create(&thread, nullptr, body, &job) == 0);
  served.wait();
  PyGILState_STATE held = PyGILState_Ensure();  // this thread holds the GIL throughout the exit
  job.may_exit.set_value();
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;  // a bound for a hang, not a speed check
  const int joined = pthread_timedjoin_np(thread, nullptr, &deadline);
  PyGILState_Release(held);
  if (joined != 0) pthread_join(thread, nullptr);  // it was waiting for the GIL: let it finish
  BOOST_TEST(joined == 0, "the exiting thread waited for the GIL");
  BOOST_TEST(job.ok);
}

// threading.main_thread() of an interpreter is the thread that created it (threading is
// imported then), not whichever request thread imported threading first.
BOOST_AUTO_TEST_CASE(threading_main_thread_is_the_creating_thread) {
  TempScript plain(R"PY(
import _thread
def application(environ, start_response):
    start_response('200 OK', [])
    return [str(_thread.get_ident()).encode()]
)PY");
  TempScript reporter(R"PY(
import threading
def application(environ, start_response):
    start_response('200 OK', [])
    return [('%d %d' % (threading.main_thread().ident, threading.get_ident())).encode()]
)PY");
  std::string creator, report;
  std::promise<void> created, reported;
  // The creating thread stays alive until the report is in, so the two thread ids differ.
  std::thread first([&] {
    FakeChannel ch;
    run(plain.path(), ch, {.group = "main-thread-check"});  // creates the interpreter
    creator = ch.out;
    created.set_value();
    reported.get_future().wait();
  });
  created.get_future().wait();
  std::thread([&] {
    FakeChannel ch;
    run(reporter.path(), ch, {.group = "main-thread-check"});
    report = ch.out;
  }).join();
  reported.set_value();
  first.join();
  BOOST_TEST(!creator.empty());
  BOOST_TEST(report.substr(0, report.find(' ')) == creator, report << " creator " << creator);
  BOOST_TEST(report.substr(report.find(' ') + 1) != creator);
}

// In a fresh process (see wsgi_test_main.cpp) where, like Apache's parent, only the
// main interpreter was used before fork.
BOOST_AUTO_TEST_CASE(fork_child_runs_python_and_shuts_down) {
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv("GANTRY_WSGI_FORK_SCENARIO", "1", 1);
    char self[] = "/proc/self/exe";
    char* argv[] = {self, nullptr};
    ::execv(self, argv);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

// This process has sub-interpreters, which 3.11 cannot carry across fork: the child
// must refuse Python cleanly (not hang).
BOOST_AUTO_TEST_CASE(fork_with_sub_interpreters_refuses_cleanly) {
  TempScript script(kCounterApp);
  FakeChannel warm;
  run(script.path(), warm, {.group = "before-fork"});
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::alarm(20);
    api().after_fork_child();
    int code = 0;
    FakeChannel ch;
    if (run(script.path(), ch) != Outcome::server_error || !ch.logged("GANTRY0120")) code |= 1;
    if (!process_logger().logged("GANTRY0125")) code |= 2;
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

namespace gantry::test {

int fork_scenario() {
  TempScript script(kCounterApp);
  TempScript atexit_script(R"PY(
import atexit, sys
atexit.register(lambda: sys.stderr.write('atexit handler ran\n'))
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'registered']
)PY");
  FakeChannel warm;
  if (run(script.path(), warm) != Outcome::ok) return 100;  // main interpreter used pre-fork
  pid_t pid = ::fork();
  if (pid < 0) return 101;
  if (pid == 0) {
    ::alarm(20);
    api().after_fork_child();
    int code = 0;
    FakeChannel main_ch, sub_ch, again_ch, atexit_ch;
    if (run(script.path(), main_ch) != Outcome::ok || main_ch.out.rfind("|2|", 0) != 0) code |= 1;
    if (run(script.path(), sub_ch, {.group = "forked"}) != Outcome::ok || sub_ch.out.rfind("forked|1|", 0) != 0)
      code |= 2;
    if (run(script.path(), again_ch, {.group = "forked"}) != Outcome::ok || again_ch.out.rfind("forked|2|", 0) != 0)
      code |= 4;
    std::thread other([&] {
      FakeChannel t;
      if (run(script.path(), t, {.group = "forked"}) != Outcome::ok) code |= 8;
    });
    other.join();
    if (run(atexit_script.path(), atexit_ch, {.group = "forked"}) != Outcome::ok) code |= 16;
    api().shutdown();
    if (!process_logger().logged("GANTRY0111: atexit handler ran")) code |= 32;
    FakeChannel late;
    if (run(script.path(), late) != Outcome::server_error || !late.logged("GANTRY0120")) code |= 64;
    if (code) std::fprintf(stderr, "fork scenario child failed: %d\n%s", code, process_logger().all().c_str());
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 102;
}

}  // namespace gantry::test
