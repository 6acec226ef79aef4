#pragma once
// Exceptions never cross into Apache: every C entry point runs its C++ body through
// run_guarded(), which logs what escaped (GANTRY0002) and returns a fallback value.
#include <httpd.h>

#include <exception>

namespace gantry::module {

// Logs an exception that escaped `where` against server `s` (may be null).
void log_escaped_exception(server_rec* s, const char* where, const char* what) noexcept;

template <class R, class F>
R run_guarded(server_rec* s, const char* where, R fallback, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    log_escaped_exception(s, where, e.what());
  } catch (...) {
    log_escaped_exception(s, where, "unknown exception");
  }
  return fallback;
}

template <class F>
void run_guarded_void(server_rec* s, const char* where, F&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    log_escaped_exception(s, where, e.what());
  } catch (...) {
    log_escaped_exception(s, where, "unknown exception");
  }
}

}  // namespace gantry::module
