#include "gantry/smaps_rollup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "gantry/scoped_fd.hpp"

namespace gantry {
namespace {

// "Name:   123 kB" anywhere at the start of a line -> bytes.
std::uint64_t field(std::string_view text, std::string_view name) noexcept {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    const std::string_view line = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == ':') {
      std::uint64_t kib = 0;
      for (char c : line.substr(name.size() + 1)) {
        if (c >= '0' && c <= '9') kib = kib * 10 + static_cast<std::uint64_t>(c - '0');
        else if (kib || (c != ' ' && c != '\t')) break;
      }
      return kib * 1024;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return 0;
}

}  // namespace

MemoryRollup parse_smaps_rollup(std::string_view text) noexcept {
  MemoryRollup m;
  m.rss = field(text, "Rss");
  m.pss = field(text, "Pss");
  m.uss = field(text, "Private_Clean") + field(text, "Private_Dirty");
  return m;
}

MemoryRollup read_smaps_rollup(pid_t pid) noexcept {
  char path[48];
  if (pid > 0) std::snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", static_cast<long>(pid));
  else std::snprintf(path, sizeof path, "/proc/self/smaps_rollup");
  const ScopedFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  char buf[4096];
  std::size_t used = 0;
  ssize_t n;
  while (used < sizeof buf && (n = read(fd.get(), buf + used, sizeof buf - used)) > 0)
    used += static_cast<std::size_t>(n);
  return parse_smaps_rollup(std::string_view(buf, used));
}

}  // namespace gantry
