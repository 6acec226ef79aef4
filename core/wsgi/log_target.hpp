#pragma once
// Where a log line of the Python side goes: the request's channel while a request runs
// (Apache tags it with the client), the process Logger otherwise, stderr as a last resort.
// All functions here may be called with or without the GIL; they drop it around the sink.
#include <string_view>

#include "gantry/channel.hpp"
#include "gantry/log.hpp"
#include "gantry/py/error.hpp"

namespace gantry::wsgi {

struct LogTarget {
  RequestChannel* channel = nullptr;
  Logger* logger = nullptr;

  // Writes "<id>: <text>".
  void log(Level level, const char* id, std::string_view text) const noexcept;
};

// Logs `headline` and then each line of the formatted traceback of `error`, every line
// with `id`. GIL must be held. Leaves the error indicator as it found it.
void log_exception(const LogTarget& target, Level level, const char* id, std::string_view headline,
                   const py::FetchedError& error) noexcept;

}  // namespace gantry::wsgi
