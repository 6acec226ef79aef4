#pragma once
// This process's memory as the kernel accounts it; cheap enough to read after every request.
#include <cstdint>
#include <string>

#include "gantry/smaps_rollup.hpp"

namespace gantry::daemon {

// Resident set size now, in bytes (from /proc/self/statm). 0 if unreadable.
std::uint64_t resident_bytes();
// What this process holds (gantry/smaps_rollup.hpp). Zeros if unreadable.
using gantry::MemoryRollup;
MemoryRollup memory_rollup();
// "RSS 12.3 MiB, PSS 5.0 MiB, USS 3.1 MiB" for log lines.
std::string describe_memory(const MemoryRollup& m);

// The highest resident set size this process ever reached, in bytes (getrusage maxrss).
std::uint64_t peak_resident_bytes();
// Proportional (PSS) and unique (USS: private clean + dirty) set sizes, in bytes, from
// /proc/self/smaps_rollup. Walks every mapping in the kernel: for a periodic sampler, not
// for every request. False if unreadable.
bool proportional_bytes(std::uint64_t* pss, std::uint64_t* uss);

}  // namespace gantry::daemon
