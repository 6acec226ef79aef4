#include "process_title.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gantry::module {
namespace {

struct ArgvArea {
  char* start = nullptr;
  std::size_t size = 0;
};

// arg_start and arg_end are fields 48 and 49 of /proc/self/stat (Linux >= 3.5). Reading
// them avoids guessing from process->argv, which Apache rewrites (-k, -D are removed).
ArgvArea argv_area() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return {};
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  unsigned long arg_start = 0, arg_end = 0;
  for (int n = 3; fields >> field; ++n) {  // the text after ')' starts at field 3
    if (n == 48) arg_start = std::strtoul(field.c_str(), nullptr, 10);
    if (n == 49) {
      arg_end = std::strtoul(field.c_str(), nullptr, 10);
      break;
    }
  }
  if (!arg_start || arg_end <= arg_start + 1) return {};
  return {reinterpret_cast<char*>(arg_start), arg_end - arg_start};
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
