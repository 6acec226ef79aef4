#pragma once
// Shared helpers of the WSGI adapter tests: the process-wide Python (initialised once by
// the global fixture in wsgi_test_main.cpp), a capturing process logger, and temporary
// WSGI script files written by the tests themselves.
#include <string>

#include "fake_channel.hpp"
#include "gantry/python_api.hpp"

namespace gantry::test {

class CapturingLogger : public Logger {
 public:
  void log(Level level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.push_back({level, std::string(message)});
  }
  bool logged(const std::string& needle) const {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_) {
      if (l.text.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string all() const {
    std::lock_guard lock(mutex_);
    std::string s;
    for (const auto& l : lines_) s += l.text + "\n";
    return s;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LogLine> lines_;
};

CapturingLogger& process_logger();
const PythonApi& api();
const std::string& temp_dir();

// A script file in the test's temp dir, removed at scope exit.
class TempScript {
 public:
  explicit TempScript(const std::string& source, const std::string& suffix = ".wsgi");
  ~TempScript();
  const std::string& path() const { return path_; }
  void rewrite(const std::string& source, long mtime_offset_seconds);

 private:
  std::string path_;
};

struct RunOptions {
  std::string group = "";
  std::string callable = "application";
  bool reload = false;
};

Outcome run(const std::string& script_path, FakeChannel& channel, const RunOptions& options = {});

// Runs `source` as a script in a fresh file (so each test gets its own module).
Outcome run_source(const std::string& source, FakeChannel& channel, const RunOptions& options = {});

// Fork scenario run in a fresh copy of this binary (GANTRY_WSGI_FORK_SCENARIO=1): returns
// the process exit code.
int fork_scenario();

}  // namespace gantry::test
