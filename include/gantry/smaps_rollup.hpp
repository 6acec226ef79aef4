#pragma once
// A process's memory as the kernel accounts it, from /proc/PID/smaps_rollup (one walk of the
// memory map in the kernel: tens of microseconds, not for every request). RSS counts every
// page mapped; PSS splits each shared page among its sharers; USS (Private_Clean +
// Private_Dirty) is what the process alone holds - what its exit would free.
#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace gantry {

struct MemoryRollup {
  std::uint64_t rss = 0;  // bytes
  std::uint64_t pss = 0;
  std::uint64_t uss = 0;
};

// Parses the file's text (fields missing: zero).
MemoryRollup parse_smaps_rollup(std::string_view text) noexcept;
// Reads /proc/PID/smaps_rollup (pid 0: this process) without allocating. Zeros if it cannot
// be read (gone, not permitted, a kernel before 4.14).
MemoryRollup read_smaps_rollup(pid_t pid) noexcept;

}  // namespace gantry
