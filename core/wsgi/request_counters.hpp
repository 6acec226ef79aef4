#pragma once
// Per-process request counting behind the environ keys mod_wsgi.thread_id,
// mod_wsgi.thread_requests and mod_wsgi.total_requests (as mod_wsgi 4.9.4 reports them):
//   - thread_id: a small per-process number for the OS thread running the request. The
//     thread that started Python in this process is 0 (in prefork that thread serves the
//     requests, as under mod_wsgi); every other thread gets 1, 2, ... on its first request.
//   - thread_requests / total_requests: requests that thread / this process had started
//     before this one (mod_wsgi's first request reports 0 for both).
// The same counters feed mod_wsgi.process_metrics() and active_requests: every thread that
// has served a request is listed (registered once, on its first request), with its count
// and the request it is running now. Nothing here costs more per request than the plain
// counting did: the per-thread fields have a single writer and are read rarely.
// Python-agnostic: plain atomics and thread_locals, safe to call without the GIL.
#include <cstdint>
#include <vector>

namespace gantry::wsgi {

struct RequestCount {
  std::int64_t thread_id = 0;
  std::int64_t thread_requests = 0;
  std::int64_t total_requests = 0;
};

// Counts one request on the calling thread and returns the numbers for its environ.
RequestCount count_request() noexcept;

// The calling thread started Python in this process: it is thread 0.
void mark_initial_thread() noexcept;

// In a freshly forked child: counts start over, the forking thread (the only one left)
// becomes thread 0 and the next new thread gets 1, and the thread list is emptied.
void reset_request_counts_after_fork() noexcept;

// Opaque to this file: what a thread runs now (wsgi/request_context.hpp).
struct RequestContext;

// Sets (or, with nullptr, clears) the calling thread's running request. The thread must
// have counted a request first.
void set_current_request(RequestContext* request) noexcept;
// The calling thread's running request, or null.
RequestContext* current_request() noexcept;

struct ThreadSnapshot {
  std::int64_t thread_id;
  std::int64_t requests;          // started on that thread, the running one included
  RequestContext* current;        // the running request, or null
};

// Every thread that has served a request, ordered by thread_id. `current` pointers stay
// valid only while the caller holds the GIL (requests set and clear them holding it).
std::vector<ThreadSnapshot> thread_snapshot();

// Requests this process has started.
std::int64_t requests_started() noexcept;

}  // namespace gantry::wsgi
