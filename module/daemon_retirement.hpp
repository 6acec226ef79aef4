#pragma once
// Old generations' daemon processes, draining after a graceful restart. Apache unloads and
// reloads mod_gantry.so on every restart, so what must outlive a generation (the processes,
// their socket paths, their status table and slot pages) is kept here as plain data in the
// process pool - never code pointers, never C++ objects with destructors - and each new
// generation adopts it: reaps the processes, logs how they ended, removes their socket and
// unmaps their memory when the last one is gone, SIGKILLs those past their deadline.
#include <httpd.h>

#include <cstdint>
#include <vector>

#include "daemon_runtime.hpp"
#include "gantry/slot_page.hpp"
#include "gantry/supervisor_policy.hpp"

namespace gantry::module {

// The real processes: kill(), waitpid(WNOHANG), apr_time_now(), apr_sleep().
class SystemProcesses final : public supervisor::ProcessControl {
 public:
  void signal(pid_t pid, int sig) override;
  bool reap(pid_t pid) override;
  supervisor::Micros now() override;
  void pause(supervisor::Micros us) override;
};
bool reap_now(pid_t pid);  // the same, for the supervisor's own Host

// Graceful restart (pconf cleanup): the departing processes of generation `g` (already sent
// kRetireSignal) are kept for the next generation; `pages` and g.table are handed over
// (or released if nobody is left to use them). Processes beyond what can be kept get SIGKILL.
void retire_generation(server_rec* s, DaemonGeneration& g, SlotPages& pages,
                       const supervisor::Policy& policy,
                       const std::vector<supervisor::Departing>& departing);
// Stop: every old process still draining (to stop with this generation's), then forgets
// them: sockets removed, memory released.
std::vector<pid_t> retired_pids(server_rec* s);
void forget_retired(server_rec* s);
std::size_t retired_count(server_rec* s);

// post_config: this generation is the one told when they die.
void adopt_retired(server_rec* s, apr_pool_t* pconf);
// monitor: SIGKILL for those past graceful-timeout + shutdown-timeout.
void kill_overdue_retired(server_rec* s);

}  // namespace gantry::module
