#pragma once
// This process's memory as the kernel accounts it; cheap enough to read after every request.
#include <cstdint>

namespace gantry::daemon {

// Resident set size now, in bytes (from /proc/self/statm). 0 if unreadable.
std::uint64_t resident_bytes();
// The highest resident set size this process ever reached, in bytes (getrusage maxrss).
std::uint64_t peak_resident_bytes();
// Proportional (PSS) and unique (USS: private clean + dirty) set sizes, in bytes, from
// /proc/self/smaps_rollup. Walks every mapping in the kernel: for a periodic sampler, not
// for every request. False if unreadable.
bool proportional_bytes(std::uint64_t* pss, std::uint64_t* uss);

}  // namespace gantry::daemon
