#include "process_title.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gantry/proc_stat.hpp"

namespace gantry::module {
namespace {

struct ArgvArea {
  char* start = nullptr;
  std::size_t size = 0;
};

// arg_start and arg_end of /proc/self/stat (Linux >= 3.5). Reading them avoids guessing
// from process->argv, which Apache rewrites (-k, -D are removed).
ArgvArea argv_area() {
  const auto stat = read_proc_stat(0);
  if (!stat || !stat->arg_start || stat->arg_end <= stat->arg_start + 1) return {};
  return {reinterpret_cast<char*>(stat->arg_start), stat->arg_end - stat->arg_start};
}

// The original command line and thread name, saved before the first change. Copied into
// every process cloned or forked afterwards, with the rest of the memory.
bool saved = false;
std::string original_args;
char original_name[16] = {};

void save_original(const ArgvArea& area) {
  if (saved) return;
  saved = true;
  if (area.start) original_args.assign(area.start, area.size);
  prctl(PR_GET_NAME, original_name, 0, 0, 0);
}

}  // namespace

void set_process_title(const std::string& title) {
  const ArgvArea area = argv_area();
  save_original(area);
  prctl(PR_SET_NAME, title.substr(0, 15).c_str(), 0, 0, 0);
  if (!area.start) return;
  const std::size_t n = std::min(title.size(), area.size - 1);  // mod_wsgi also truncates
  std::memset(area.start, 0, area.size);
  std::memcpy(area.start, title.data(), n);
}

void restore_process_title() {
  if (!saved) return;
  prctl(PR_SET_NAME, original_name, 0, 0, 0);
  const ArgvArea area = argv_area();
  if (!area.start || original_args.empty()) return;
  std::memset(area.start, 0, area.size);
  std::memcpy(area.start, original_args.data(), std::min(area.size, original_args.size()));
}

}  // namespace gantry::module
