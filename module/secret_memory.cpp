#include "secret_memory.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace gantry::module {
namespace {

std::vector<std::pair<void*, std::size_t>>& held() {
  static std::vector<std::pair<void*, std::size_t>> ranges;
  return ranges;
}

}  // namespace

void hold_secret(void* data, std::size_t size) { held().emplace_back(data, size); }

void release_secret(const void* data) noexcept {
  auto& ranges = held();
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [&](const auto& r) { return r.first == data; }),
               ranges.end());
}

void wipe_held_secrets() noexcept {
  for (const auto& [data, size] : held()) explicit_bzero(data, size);
}

}  // namespace gantry::module
