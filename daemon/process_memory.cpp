#include "process_memory.hpp"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>


namespace gantry::daemon {

std::uint64_t resident_bytes() {
  // statm: "size resident shared ..." in pages. Read with a raw fd: no stdio locking, no
  // allocation, so it is safe to call on every request from any thread. The file stays
  // open and is re-read with pread() (procfs regenerates it at offset 0): one syscall per
  // sample instead of open/read/close. Kept for the life of the process, never closed: a
  // plain int, so no destructor at exit can close a number some other code reused.
  static const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  static const long page = sysconf(_SC_PAGESIZE);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<std::uint64_t>(page);
}

MemoryRollup memory_rollup() { return read_smaps_rollup(0); }

std::string describe_memory(const MemoryRollup& m) {
  char text[96];
  const double mib = 1024.0 * 1024.0;
  std::snprintf(text, sizeof text, "RSS %.1f MiB, PSS %.1f MiB, USS %.1f MiB", static_cast<double>(m.rss) / mib,
                static_cast<double>(m.pss) / mib, static_cast<double>(m.uss) / mib);
  return text;
}

bool proportional_bytes(std::uint64_t* pss, std::uint64_t* uss) {
  const MemoryRollup m = memory_rollup();
  if (m.pss == 0) return false;  // no smaps_rollup (or an empty process: nothing to say)
  *pss = m.pss;
  *uss = m.uss;
  return true;
}

std::uint64_t peak_resident_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace gantry::daemon
