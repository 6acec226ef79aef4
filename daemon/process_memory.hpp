#pragma once
// This process's memory as the kernel accounts it; cheap enough to read after every request.
#include <cstdint>

namespace gantry::daemon {

// Resident set size now, in bytes (from /proc/self/statm). 0 if unreadable.
std::uint64_t resident_bytes();
// The highest resident set size this process ever reached, in bytes (getrusage maxrss).
std::uint64_t peak_resident_bytes();

}  // namespace gantry::daemon
