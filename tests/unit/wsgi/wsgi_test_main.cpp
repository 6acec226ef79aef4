// Boost.Test entry point of gantry_wsgi_tests: Python is embedded in this binary and
// initialised once, through the same entry table mod_gantry.so uses.
#define BOOST_TEST_MODULE gantry_wsgi
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "wsgi_test_support.hpp"

namespace gantry::test {

CapturingLogger& process_logger() {
  static CapturingLogger* logger = new CapturingLogger;
  return *logger;
}

const PythonApi& api() { return *gantry_python_api(); }

const std::string& temp_dir() {
  static const std::string dir = [] {
    char templ[] = "/tmp/gantry-wsgi-tests-XXXXXX";
    const char* made = ::mkdtemp(templ);
    if (!made) std::abort();
    return std::string(made);
  }();
  return dir;
}

TempScript::TempScript(const std::string& source, const std::string& suffix) {
  static std::atomic<int> counter{0};
  path_ = temp_dir() + "/script" + std::to_string(counter++) + suffix;
  std::ofstream(path_) << source;
}

TempScript::~TempScript() { ::unlink(path_.c_str()); }

void TempScript::rewrite(const std::string& source, long mtime_offset_seconds) {
  std::ofstream(path_, std::ios::trunc) << source;
  struct timeval times[2];
  ::gettimeofday(&times[0], nullptr);
  times[0].tv_sec += mtime_offset_seconds;
  times[1] = times[0];
  ::utimes(path_.c_str(), times);
}

Outcome run(const std::string& script_path, FakeChannel& channel, const RunOptions& options) {
  ScriptTarget target;
  target.script_path = script_path;
  target.application_group = options.group;
  target.callable = options.callable;
  target.reload_on_change = options.reload;
  return api().run_request(target, channel);
}

Outcome run_source(const std::string& source, FakeChannel& channel, const RunOptions& options) {
  TempScript script(source);
  return run(script.path(), channel, options);
}

struct PythonFixture {
  PythonFixture() {
    PythonSettings settings;
    settings.python_path = {temp_dir() + "/lib", temp_dir() + "/lib2"};
    settings.restrict_stdin = true;
    settings.restrict_stdout = false;  // mod_wsgi's default: print() goes to the log
    settings.restrict_signal = true;
    settings.process_group = "testgroup";
    settings.logger = &process_logger();
    std::filesystem::create_directories(temp_dir() + "/lib");
    // lib2 is a site directory: its .pth file adds a directory and runs a line of code.
    std::filesystem::create_directories(temp_dir() + "/lib2/pth_added");
    std::ofstream(temp_dir() + "/lib2/gantry_unit.pth")
        << "pth_added\nimport sys; sys.gantry_pth_runs = getattr(sys, 'gantry_pth_runs', 0) + 1\n";
    if (!api().initialize(settings)) {
      std::fprintf(stderr, "Python initialisation failed:\n%s", process_logger().all().c_str());
      std::abort();
    }
    if (std::getenv("GANTRY_WSGI_FORK_SCENARIO")) {
      int code = fork_scenario();
      std::filesystem::remove_all(temp_dir());
      std::_Exit(code);
    }
  }
  ~PythonFixture() {
    api().shutdown();
    std::filesystem::remove_all(temp_dir());
  }
};

BOOST_TEST_GLOBAL_FIXTURE(PythonFixture);

}  // namespace gantry::test
