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
  // sample instead of open/read/close.
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

bool proportional_bytes(std::uint64_t* pss, std::uint64_t* uss) {
  const int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  unsigned long long kb = 0, found_pss = 0, private_kb = 0;
  bool have_pss = false;
  for (char* line = buf; line && *line; line = std::strchr(line, '\n') ? std::strchr(line, '\n') + 1 : nullptr) {
    if (std::sscanf(line, "Pss: %llu kB", &kb) == 1) found_pss = kb, have_pss = true;
    else if (std::sscanf(line, "Private_Clean: %llu kB", &kb) == 1) private_kb += kb;
    else if (std::sscanf(line, "Private_Dirty: %llu kB", &kb) == 1) private_kb += kb;
  }
  if (!have_pss) return false;
  *pss = found_pss * 1024;
  *uss = private_kb * 1024;
  return true;
}

std::uint64_t peak_resident_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace gantry::daemon
