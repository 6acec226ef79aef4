#pragma once
// mod_wsgi.process_metrics(), request_metrics(), start_recording_metrics() and
// server_metrics(), with the keys and value types mod_wsgi 4.9.4 returns.
//
// Cost model: the request and thread counts come from request_counters (kept anyway for the
// environ). What needs a clock per request (busy time, the per-phase times and histograms of
// request_metrics()) is recorded only from the moment an application first asks for metrics
// (start_recording_metrics(), process_metrics() or request_metrics()); until then a request
// pays one relaxed atomic load. So request_busy_time counts from that moment, like
// mod_wsgi 4.9.4's request_metrics() window, which also starts at its first call.
#include <Python.h>

#include <cstdint>

#include "gantry/server_facts.hpp"

namespace gantry::wsgi {

// The process (re)started: Python came up, or this is a freshly forked child.
void note_process_start() noexcept;

bool metrics_recording() noexcept;
void start_recording_metrics() noexcept;  // idempotent

// The timestamps of one request, seconds since the epoch (0: no such phase, e.g. the queue
// in embedded mode).
struct RequestTimes {
  double request_start = 0, queue_start = 0, daemon_start = 0;
  double application_start = 0, application_finish = 0;
  std::int64_t thread_id = 0;
};

// While recording: a request began / ended. `started_recorded` tells whether its start was
// noted (recording may have begun in between). Take no GIL; never throw.
void note_request_started() noexcept;
void note_request_finished(const RequestTimes& times, bool started_recorded) noexcept;

// New dicts (GIL held), or nullptr with a Python error. server_metrics() gives None where
// there is no scoreboard (daemon processes). `daemon`: this is a daemon process (the queue
// and daemon phases exist).
PyObject* process_metrics_dict(const ServerFacts& facts);
PyObject* request_metrics_dict(const ServerFacts& facts, bool daemon);
PyObject* server_metrics_dict(const ServerFacts& facts);

}  // namespace gantry::wsgi
