// Request and thread numbering for the mod_wsgi.thread_* / total_requests environ keys.
#include "wsgi/request_counters.hpp"

#include <atomic>

namespace gantry::wsgi {
namespace {

std::atomic<std::int64_t> next_thread_id{1};
std::atomic<std::int64_t> total_started{0};

struct ThreadCount {
  std::int64_t id = -1;  // -1: not numbered yet
  std::int64_t requests = 0;
};
thread_local ThreadCount this_thread;

}  // namespace

RequestCount count_request() noexcept {
  if (this_thread.id < 0) this_thread.id = next_thread_id.fetch_add(1, std::memory_order_relaxed);
  RequestCount out;
  out.thread_id = this_thread.id;
  out.thread_requests = this_thread.requests++;
  out.total_requests = total_started.fetch_add(1, std::memory_order_relaxed);
  return out;
}

void mark_initial_thread() noexcept { this_thread.id = 0; }

void reset_request_counts_after_fork() noexcept {
  next_thread_id.store(1, std::memory_order_relaxed);
  total_started.store(0, std::memory_order_relaxed);
  this_thread.id = 0;
  this_thread.requests = 0;
}

}  // namespace gantry::wsgi
