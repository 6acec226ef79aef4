#pragma once
// The SIGCHLD handler of Apache's parent that keeps daemon processes' raw wait statuses
// (gantry/zombie_watch.hpp says why). Installed once per load of this module; statics
// reset with the DSO on a restart, when the handler has been uninstalled.
#include <apr_pools.h>
#include <sys/types.h>

#include <cstddef>

namespace gantry::module::exit_watch {

// Parent, post_config: room for `capacity` processes alive at once (this generation's
// processes and standbys, plus old generations' draining ones).
void install(apr_pool_t* pconf, std::size_t capacity);
// A process the parent forked or adopted; false if it did not fit (the caller logs it).
bool track(pid_t pid) noexcept;
// The raw wait status seen for `pid` (-1 if none); forgets it.
int take(pid_t pid) noexcept;
// In a forked child (child_init): SIGCHLD of its own children is none of our business.
void leave_child() noexcept;

}  // namespace gantry::module::exit_watch
