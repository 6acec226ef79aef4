#include "apache_log.hpp"

#include "gantry_hooks.h"
#include "guard.hpp"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {

void ProcessLogger::log(Level level, std::string_view message) {
  ap_log_error(APLOG_MARK, to_aplog(level), 0, nullptr, "%.*s", static_cast<int>(message.size()),
               message.data());
}

ProcessLogger& process_logger() {
  // A plain object with no state: safe to share between threads and passes.
  static ProcessLogger logger;
  return logger;
}

void log_escaped_exception(server_rec* s, const char* where, const char* what) noexcept {
  ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "GANTRY0002: internal error in %s: %s", where, what);
}

}  // namespace gantry::module
