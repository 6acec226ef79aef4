#pragma once
// deadlock-timeout: is the GIL still being handed around?
//
// Why a ticker thread: a Python deadlock (or C code that holds the GIL and blocks) stops
// every Python thread of the process, while the process itself looks alive: it accepts
// nothing new only because its threads are all stuck. A thread that takes the GIL for an
// instant once a second proves the opposite; when its last tick is older than
// deadlock-timeout, the lifecycle restarts the process (mod_wsgi's semantics). The ticker
// is blocked inside PyGILState_Ensure() while the GIL is held, which is exactly what it
// measures; a process restarted for a deadlock exits without waiting for it.
#include <atomic>
#include <chrono>

namespace gantry::daemon {

class GilWatch {
 public:
  // Starts the ticker (Python must be initialised). Never stops: it ends with the process.
  // 0, or the error number of a ticker that could not start: then nothing is measured
  // (seconds_since_tick() stays 0) rather than a deadlock seen where there is none.
  int start();
  // Seconds since the ticker last held the GIL (0 before a successful start()).
  double seconds_since_tick() const;

 private:
  static void* run(void* self);
  std::atomic<std::int64_t> last_tick_ns_{0};
};

}  // namespace gantry::daemon
