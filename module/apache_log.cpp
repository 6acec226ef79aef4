#include "apache_log.hpp"

#include "gantry_hooks.h"
#include "guard.hpp"

#include <http_main.h>

APLOG_USE_MODULE(wsgi);

namespace gantry::module {

void ProcessLogger::log(Level level, std::string_view message) {
  // The main server, not nullptr: httpd drops every line below warning that names no server,
  // whatever LogLevel says (ap_server_conf is set once the configuration is read).
  ap_log_error(APLOG_MARK, to_aplog(level), 0, ap_server_conf, "%.*s", static_cast<int>(message.size()),
               message.data());
}

ProcessLogger& process_logger() {
  // A plain object with no state: safe to share between threads and passes.
  static ProcessLogger logger;
  return logger;
}

void RequestLogger::log(Level level, std::string_view message) {
  ap_log_rerror(APLOG_MARK, to_aplog(level), 0, r_, "%.*s", static_cast<int>(message.size()), message.data());
}

void log_escaped_exception(server_rec* s, const char* where, const char* what) noexcept {
  ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "GANTRY0002: internal error in %s: %s", where, what);
}

}  // namespace gantry::module
