#pragma once
// Logging through Apache's error log. Gantry's own lines carry a "GANTRYnnnn: " id
// (module/ uses 0001-0099, listed in docs/log-messages.md); the format strings below are
// passed straight to ap_log_error, so ids live next to the messages in the calling code.
#include <httpd.h>
#include <http_log.h>

#include "gantry/log.hpp"

namespace gantry::module {

// Maps a Gantry level onto APLOG_* (same numbering by design).
constexpr int to_aplog(Level level) { return static_cast<int>(level); }

// The process-level sink handed to the Python side. Writes via ap_log_error with a null
// server (= the current generation's main server), so it stays valid across restarts
// even though Python, once started, outlives the configuration pass that started it.
class ProcessLogger final : public Logger {
 public:
  void log(Level level, std::string_view message) override;
};

ProcessLogger& process_logger();

// One request's sink: lines tagged with the request (client address), like Apache's own.
class RequestLogger final : public Logger {
 public:
  explicit RequestLogger(request_rec* r) : r_(r) {}
  void log(Level level, std::string_view message) override;

 private:
  request_rec* r_;
};

}  // namespace gantry::module
