// Request and thread numbering for the mod_wsgi.thread_* / total_requests environ keys, and
// the list of request threads behind process_metrics() and active_requests.
#include "wsgi/request_counters.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>

namespace gantry::wsgi {
namespace {

std::atomic<std::int64_t> next_thread_id{1};
std::atomic<std::int64_t> total_started{0};

// Written only by its own thread (relaxed load + store, no locked instruction on the hot
// path); read by whoever asks for metrics.
struct ThreadCount {
  std::int64_t id = -1;  // -1: not numbered yet
  std::atomic<std::int64_t> requests{0};
  std::atomic<RequestContext*> current{nullptr};
  bool listed = false;
};
thread_local ThreadCount this_thread;

// The threads that have counted a request. Request threads live as long as their process,
// so the entries never dangle; after fork() only the forking thread is left and the list
// starts over.
struct ThreadList {
  std::mutex mutex;
  std::vector<ThreadCount*> threads;
};
// Never destroyed: threads may outlive static destructors.
ThreadList* threads_of_process = new ThreadList;
ThreadList& thread_list() { return *threads_of_process; }

void list_this_thread() {
  ThreadList& list = thread_list();
  std::lock_guard lock(list.mutex);
  list.threads.push_back(&this_thread);
  this_thread.listed = true;
}

}  // namespace

RequestCount count_request() noexcept {
  if (this_thread.id < 0) this_thread.id = next_thread_id.fetch_add(1, std::memory_order_relaxed);
  if (!this_thread.listed) {
    try {
      list_this_thread();
    } catch (...) {
      // Out of memory: the thread goes unlisted in the metrics, its requests still run.
    }
  }
  RequestCount out;
  out.thread_id = this_thread.id;
  out.thread_requests = this_thread.requests.load(std::memory_order_relaxed);
  this_thread.requests.store(out.thread_requests + 1, std::memory_order_relaxed);
  out.total_requests = total_started.fetch_add(1, std::memory_order_relaxed);
  return out;
}

void mark_initial_thread() noexcept { this_thread.id = 0; }

void reset_request_counts_after_fork() noexcept {
  next_thread_id.store(1, std::memory_order_relaxed);
  total_started.store(0, std::memory_order_relaxed);
  this_thread.id = 0;
  this_thread.requests.store(0, std::memory_order_relaxed);
  this_thread.current.store(nullptr, std::memory_order_relaxed);
  this_thread.listed = false;
  // The other threads' entries belong to threads that do not exist in this child. The
  // mutex may have been held by one of them at fork(): start a fresh list (the old one is
  // a few pointers, left to the process).
  if (auto* fresh = new (std::nothrow) ThreadList) threads_of_process = fresh;
}

void set_current_request(RequestContext* request) noexcept {
  this_thread.current.store(request, std::memory_order_release);
}

RequestContext* current_request() noexcept { return this_thread.current.load(std::memory_order_relaxed); }

std::vector<ThreadSnapshot> thread_snapshot() {
  std::vector<ThreadSnapshot> out;
  ThreadList& list = thread_list();
  {
    std::lock_guard lock(list.mutex);
    out.reserve(list.threads.size());
    for (const ThreadCount* t : list.threads) {
      out.push_back({t->id, t->requests.load(std::memory_order_relaxed), t->current.load(std::memory_order_acquire)});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.thread_id < b.thread_id; });
  return out;
}

std::int64_t requests_started() noexcept { return total_started.load(std::memory_order_relaxed); }

}  // namespace gantry::wsgi
