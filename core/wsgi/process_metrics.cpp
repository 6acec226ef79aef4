// process_metrics(), request_metrics(), server_metrics() (process_metrics.hpp).
#include "wsgi/process_metrics.hpp"

#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <new>
#include <vector>

#include "gantry/py/ref.hpp"
#include "wsgi/py_dict.hpp"
#include "wsgi/request_counters.hpp"

namespace gantry::wsgi {
namespace {

// mod_wsgi 4.9.4's histogram: bucket i counts durations up to 5 ms * 2^i (i < 14), bucket 14
// everything longer; 16 entries.
constexpr std::size_t kBuckets = 16;
using Histogram = std::array<int, kBuckets>;

void add_to_histogram(Histogram& h, double seconds) noexcept {
  double limit = 0.005;
  std::size_t i = 0;
  while (i < 14 && seconds > limit) {
    limit *= 2;
    ++i;
  }
  ++h[i];
}

double now_seconds() noexcept {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

struct CpuTimes {
  double user = 0, system = 0;
};
CpuTimes process_cpu() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return {secs(ru.ru_utime), secs(ru.ru_stime)};
}

long long resident_bytes() noexcept {
  long long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lld %lld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return pages_resident * sysconf(_SC_PAGESIZE);
}

long long peak_resident_bytes() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<long long>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

// One request_metrics() interval.
struct Window {
  double start_time = 0;
  CpuTimes cpu;
  double busy_at_start = 0;
  long long requests = 0;
  double server = 0, queue = 0, daemon = 0, application = 0;
  Histogram server_buckets{}, queue_buckets{}, daemon_buckets{}, application_buckets{};
  std::vector<int> per_thread;  // completions by thread_id - 1 (thread 0 counts as 1)
};

struct Metrics {
  std::atomic<bool> recording{false};
  std::atomic<double> process_start{0};
  std::mutex mutex;  // the fields below; never held while calling into Python
  int active = 0;    // recorded requests in flight
  double busy = 0;   // request-seconds, integrated over `active` up to `last`
  double last = 0;
  Window window;
};

Metrics& metrics() {
  static Metrics* m = new Metrics;  // never destroyed: request threads may outlive statics
  return *m;
}

// Caller holds m.mutex: brings the busy-time integral up to `now`.
void integrate_busy(Metrics& m, double now) noexcept {
  if (m.last > 0 && now > m.last) m.busy += m.active * (now - m.last);
  m.last = now;
}

void open_window(Metrics& m, double now) {
  integrate_busy(m, now);
  m.window = Window{};
  m.window.start_time = now;
  m.window.cpu = process_cpu();
  m.window.busy_at_start = m.busy;
}

// A list of ints (a histogram, or per-thread counts). Empty Ref with a Python error on failure.
template <typename Counts>
py::Ref int_list(const Counts& values) {
  py::Ref list = py::Ref::steal(PyList_New(static_cast<Py_ssize_t>(values.size())));
  for (std::size_t i = 0; list && i < values.size(); ++i) {
    PyObject* n = PyLong_FromLong(values[i]);
    if (!n) return {};
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), n);
  }
  return list;
}

int threads_maximum(const ServerFacts& facts) { return facts.threads_per_process > 0 ? facts.threads_per_process : 1; }

}  // namespace

void note_process_start() noexcept {
  Metrics& m = metrics();
  m.process_start.store(now_seconds());
  // A forked child starts with the parent's recording state: none of it is this process's.
  m.recording.store(false);
  new (&m.mutex) std::mutex;
  m.active = 0;
  m.busy = 0;
  m.last = 0;
}

bool metrics_recording() noexcept { return metrics().recording.load(std::memory_order_relaxed); }

void start_recording_metrics() noexcept {
  Metrics& m = metrics();
  if (m.recording.load()) return;
  std::lock_guard lock(m.mutex);
  if (m.recording.load()) return;
  try {
    open_window(m, now_seconds());
  } catch (...) {
    return;  // out of memory: stay off
  }
  m.recording.store(true);
}

void note_request_started() noexcept {
  Metrics& m = metrics();
  std::lock_guard lock(m.mutex);
  integrate_busy(m, now_seconds());
  ++m.active;
}

void note_request_finished(const RequestTimes& t, bool started_recorded) noexcept {
  // mod_wsgi's phases: Apache -> (daemon socket) -> daemon -> application.
  double server = 0, queue = 0, daemon = 0;
  if (t.queue_start > 0) {
    server = t.queue_start - t.request_start;
    queue = t.daemon_start - t.queue_start;
    daemon = t.application_start - t.daemon_start;
  } else {
    server = t.application_start - t.request_start;
  }
  const double application = t.application_finish - t.application_start;
  Metrics& m = metrics();
  std::lock_guard lock(m.mutex);
  integrate_busy(m, now_seconds());
  if (started_recorded && m.active > 0) --m.active;
  Window& w = m.window;
  ++w.requests;
  w.server += server;
  w.queue += queue;
  w.daemon += daemon;
  w.application += application;
  add_to_histogram(w.server_buckets, server);
  if (t.queue_start > 0) {
    add_to_histogram(w.queue_buckets, queue);
    add_to_histogram(w.daemon_buckets, daemon);
  }
  add_to_histogram(w.application_buckets, application);
  const std::size_t slot = t.thread_id > 0 ? static_cast<std::size_t>(t.thread_id - 1) : 0;
  if (slot < w.per_thread.size()) ++w.per_thread[slot];
}

PyObject* process_metrics_dict(const ServerFacts&) {
  start_recording_metrics();
  Metrics& m = metrics();
  const double now = now_seconds();
  double busy = 0;
  {
    std::lock_guard lock(m.mutex);
    integrate_busy(m, now);
    busy = m.busy;
  }
  std::vector<ThreadSnapshot> threads = thread_snapshot();
  long long active = 0;
  for (const auto& t : threads) active += t.current ? 1 : 0;
  py::Ref thread_list = py::Ref::steal(PyList_New(0));
  if (!thread_list) return nullptr;
  for (const auto& t : threads) {
    DictBuilder entry;
    entry.integer("thread_id", t.thread_id).integer("request_count", t.requests);
    py::Ref item = py::Ref::steal(entry.release());
    if (!item || PyList_Append(thread_list.get(), item.get()) < 0) return nullptr;
  }
  const CpuTimes cpu = process_cpu();
  const double start = m.process_start.load();
  DictBuilder d;
  d.integer("pid", getpid())
      .real("restart_time", start)
      .real("current_time", now)
      .integer("running_time", static_cast<long long>(now - start))
      .integer("request_count", requests_started() - active)  // finished ones
      .real("request_busy_time", busy)
      .integer("memory_max_rss", peak_resident_bytes())
      .integer("memory_rss", resident_bytes())
      .real("cpu_user_time", cpu.user)
      .real("cpu_system_time", cpu.system)
      .integer("request_threads", static_cast<long long>(threads.size()))
      .integer("active_requests", active)
      .set("threads", thread_list);
  return d.release();
}

PyObject* request_metrics_dict(const ServerFacts& facts, bool daemon) {
  Metrics& m = metrics();
  if (!m.recording.load()) {
    // mod_wsgi 4.9.4: the first call starts the interval and returns an empty dict.
    start_recording_metrics();
    return PyDict_New();
  }
  const int maximum = threads_maximum(facts);
  const double now = now_seconds();
  Window w;
  double busy = 0;
  {
    std::lock_guard lock(m.mutex);
    integrate_busy(m, now);
    busy = m.busy;
    if (m.window.per_thread.empty()) m.window.per_thread.assign(static_cast<std::size_t>(maximum), 0);
    w = m.window;
    open_window(m, now);
    m.window.per_thread.assign(static_cast<std::size_t>(maximum), 0);
  }
  if (w.per_thread.empty()) w.per_thread.assign(static_cast<std::size_t>(maximum), 0);
  const double period = now - w.start_time;
  const CpuTimes cpu = process_cpu();
  long long threads_active = 0;
  for (int n : w.per_thread) threads_active += n > 0 ? 1 : 0;
  auto mean = [&](double total) { return w.requests ? total / static_cast<double>(w.requests) : 0.0; };
  auto rate = [&](double delta) { return period > 0 ? delta / period : 0.0; };
  DictBuilder d;
  d.integer("pid", getpid())
      .real("start_time", w.start_time)
      .real("stop_time", now)
      .real("sample_period", period)
      .integer("request_count", w.requests)
      .real("request_throughput", rate(static_cast<double>(w.requests)))
      .integer("request_threads_maximum", maximum)
      .integer("request_threads_started", static_cast<long long>(thread_snapshot().size()))
      .integer("request_threads_active", threads_active)
      .real("capacity_utilization", period > 0 ? (busy - w.busy_at_start) / (period * maximum) : 0.0)
      .real("server_time", mean(w.server))
      .real("application_time", mean(w.application))
      .set("server_time_buckets", int_list(w.server_buckets))
      .set("queue_time_buckets", int_list(w.queue_buckets))
      .set("daemon_time_buckets", int_list(w.daemon_buckets))
      .set("application_time_buckets", int_list(w.application_buckets))
      .set("request_threads_buckets", int_list(w.per_thread))
      .real("cpu_user_time", rate(cpu.user - w.cpu.user))
      .real("cpu_system_time", rate(cpu.system - w.cpu.system))
      .integer("memory_max_rss", peak_resident_bytes())
      .integer("memory_rss", resident_bytes());
  if (daemon) {
    d.real("queue_time", mean(w.queue)).real("daemon_time", mean(w.daemon));
  } else {
    d.none("queue_time").none("daemon_time");
  }
  return d.release();
}

PyObject* server_metrics_dict(const ServerFacts& facts) {
  Scoreboard board;
  bool have = false;
  if (facts.read_scoreboard) {
    // The reader only copies shared memory; a C++ failure must not unwind into Python.
    try {
      have = facts.read_scoreboard(board);
    } catch (...) {
      have = false;
    }
  }
  if (!have) Py_RETURN_NONE;
  py::Ref processes = py::Ref::steal(PyList_New(0));
  if (!processes) return nullptr;
  for (const ScoreboardProcess& p : board.processes) {
    py::Ref workers = py::Ref::steal(PyList_New(0));
    if (!workers) return nullptr;
    for (const ScoreboardWorker& w : p.workers) {
      DictBuilder wd;
      wd.integer("thread_num", w.thread_num)
          .integer("generation", w.generation)
          .text("status", std::string_view(&w.status, 1))
          .integer("access_count", static_cast<long long>(w.access_count))
          .integer("bytes_served", static_cast<long long>(w.bytes_served))
          .real("start_time", w.start_time)
          .real("stop_time", w.stop_time)
          .real("last_used", w.last_used)
          .text("client", w.client)
          .text("request", w.request)
          .text("vhost", w.vhost);
      py::Ref item = py::Ref::steal(wd.release());
      if (!item || PyList_Append(workers.get(), item.get()) < 0) return nullptr;
    }
    DictBuilder pd;
    pd.integer("process_num", p.process_num)
        .integer("pid", p.pid)
        .integer("generation", p.generation)
        .flag("quiescing", p.quiescing)
        .set("workers", workers);
    py::Ref item = py::Ref::steal(pd.release());
    if (!item || PyList_Append(processes.get(), item.get()) < 0) return nullptr;
  }
  const double now = now_seconds();
  DictBuilder d;
  d.integer("server_limit", board.server_limit)
      .integer("thread_limit", board.thread_limit)
      .integer("running_generation", board.running_generation)
      .real("restart_time", board.restart_time)
      .real("current_time", now)
      .integer("running_time", static_cast<long long>(now - board.restart_time))
      .set("processes", processes);
  return d.release();
}

}  // namespace gantry::wsgi
