#include "gantry/proc_stat.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gantry/scoped_fd.hpp"

namespace gantry {

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto paren = text.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= text.size()) return std::nullopt;
  ProcStat stat;
  std::string_view rest = text.substr(paren + 2);
  for (int number = 3; !rest.empty(); ++number) {  // the text after ") " starts at field 3
    const auto end = rest.find_first_of(" \n");
    const std::string field(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    switch (number) {
      case 3: stat.state = field.empty() ? '?' : field[0]; break;
      case 9: stat.flags = std::strtoul(field.c_str(), nullptr, 10); break;
      case 48: stat.arg_start = std::strtoul(field.c_str(), nullptr, 10); break;
      case 49: stat.arg_end = std::strtoul(field.c_str(), nullptr, 10); break;
      case 52: stat.exit_code = std::atoi(field.c_str()); return stat;
      default: break;
    }
  }
  return stat;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  const std::string path = pid ? "/proc/" + std::to_string(pid) + "/stat" : "/proc/self/stat";
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  char buffer[1024];  // 52 numeric fields and a 16-byte command name fit well
  std::size_t used = 0;
  for (ssize_t n; used < sizeof buffer && (n = read(fd.get(), buffer + used, sizeof buffer - used)) != 0;) {
    if (n < 0) return std::nullopt;
    used += static_cast<std::size_t>(n);
  }
  return parse_proc_stat(std::string_view(buffer, used));
}

}  // namespace gantry
