#pragma once
// Logging as both sides of Gantry see it: a level and a message. Apache's side maps the
// level onto ap_log_*; the daemon side onto its own sink. Every line Gantry itself writes
// starts with a stable id "GANTRYnnnn: " listed in docs/log-messages.md (one id per cause,
// never reused). Id ranges: 0001-0099 module/, 0100-0199 Python side (core/wsgi),
// 0200-0299 daemon/, 0300-0399 core/ (protocol, options).
#include <string_view>

namespace gantry {

// Same order and meaning as Apache's APLOG_EMERG..APLOG_DEBUG (0..7).
enum class Level : int { emerg = 0, alert, crit, error, warning, notice, info, debug };

// A place to write log lines that belong to a process rather than to one request.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(Level level, std::string_view message) = 0;
};

}  // namespace gantry
