#include "gil_watch.hpp"

#include <Python.h>
#include <pthread.h>
#include <unistd.h>

namespace gantry::daemon {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int GilWatch::start() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // The first tick counts from now, so a slow first PyGILState_Ensure() is measured too;
  // set before the thread exists, and taken back if it never will.
  last_tick_ns_ = now_ns();
  pthread_t thread;
  const int error = pthread_create(&thread, &attr, &GilWatch::run, this);
  pthread_attr_destroy(&attr);
  if (error != 0) last_tick_ns_ = 0;
  return error;
}

void* GilWatch::run(void* self) {
  auto* watch = static_cast<GilWatch*>(self);
  for (;;) {
    PyGILState_STATE state = PyGILState_Ensure();
    PyGILState_Release(state);
    watch->last_tick_ns_ = now_ns();
    usleep(500 * 1000);
  }
  return nullptr;
}

double GilWatch::seconds_since_tick() const {
  const std::int64_t last = last_tick_ns_.load();
  if (!last) return 0;
  return static_cast<double>(now_ns() - last) / 1e9;
}

}  // namespace gantry::daemon
