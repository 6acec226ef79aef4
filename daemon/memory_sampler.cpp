#include "memory_sampler.hpp"

#include <pthread.h>
#include <unistd.h>

#include <chrono>

#include "process_memory.hpp"

namespace gantry::daemon {
namespace {

void* sample_forever(void* arg) {
  auto* board = static_cast<scoreboard::BoardWriter*>(arg);
  for (;;) {
    std::uint64_t pss = 0, uss = 0;
    proportional_bytes(&pss, &uss);
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    board->note_sample(now_us, resident_bytes(), pss, uss);
    sleep(scoreboard::kSampleSeconds);
  }
  return nullptr;
}

}  // namespace

void start_memory_sampler(scoreboard::BoardWriter* board) {
  if (!board) return;
  pthread_t thread;
  if (pthread_create(&thread, nullptr, &sample_forever, board) == 0) pthread_detach(thread);
}

}  // namespace gantry::daemon
