// Publishing mod_wsgi's events, and metering a request for them (request_events.hpp).
#include "wsgi/request_events.hpp"

#include <sys/resource.h>
#include <sys/time.h>

#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_ids.hpp"
#include "wsgi/process_metrics.hpp"
#include "wsgi/py_dict.hpp"
#include "wsgi/request_context.hpp"

namespace gantry::wsgi {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `call`, adding the time it took to `total` also when it throws (a channel error).
template <typename Call>
auto timed(double& total, Call&& call) {
  struct AddElapsed {
    double& total;
    Clock::time_point start = Clock::now();
    ~AddElapsed() { total += std::chrono::duration<double>(Clock::now() - start).count(); }
  } add{total};
  return call();
}

double wall_now() noexcept {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

void thread_cpu(double& user, double& system) noexcept {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  user = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  system = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
}

long long env_int(const RequestContext& c, std::string_view key) {
  std::string_view text = c.env(key);
  long long value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return 0;
    value = value * 10 + (ch - '0');
  }
  return value;
}

// Calls each callback of `callbacks` (a list; a snapshot, so a callback may subscribe
// another) as callback(name, **payload). A returned dict is merged into `payload` for the
// callbacks after it. A callback that raises is logged with `id` and skipped.
void dispatch(PyObject* callbacks, const char* name, PyObject* payload, const LogTarget& log, const char* id) {
  if (!callbacks || !PyList_Check(callbacks) || PyList_GET_SIZE(callbacks) == 0) return;
  py::ErrorScope keep;  // a pending exception (request_exception) survives the callbacks
  py::Ref snapshot = py::Ref::steal(PyList_AsTuple(callbacks));
  py::Ref args = py::Ref::steal(Py_BuildValue("(s)", name));
  if (!snapshot || !args) {
    PyErr_Clear();
    return;
  }
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(snapshot.get()); ++i) {
    PyObject* callback = PyTuple_GET_ITEM(snapshot.get(), i);
    py::Ref result = py::Ref::steal(PyObject_Call(callback, args.get(), payload));
    if (result && PyDict_Check(result.get()) && PyDict_Update(payload, result.get()) == 0) continue;
    if (result) continue;  // any other return value is ignored
    py::FetchedError error = py::fetch_error();
    if (!error) continue;
    log_exception(log, Level::error, id, std::string("Exception in mod_wsgi event callback for '") + name + "'",
                  error);
  }
}

}  // namespace

void publish_process_stopping(const EventHooks& hooks, std::string_view reason) {
  const LogTarget log = process_log();
  DictBuilder payload;
  payload.text("shutdown_reason", reason);
  py::Ref dict = py::Ref::steal(payload.release());
  if (!dict) {
    py::FetchedError error = py::fetch_error();
    log_exception(log, Level::error, ids::kShutdownCallbackException, "Cannot publish process_stopping", error);
    return;
  }
  dispatch(hooks.event_callbacks.get(), "process_stopping", dict.get(), log, ids::kShutdownCallbackException);
  dispatch(hooks.shutdown_callbacks.get(), "process_stopping", dict.get(), log, ids::kShutdownCallbackException);
}

void publish_process_started(const EventHooks& hooks, std::string_view process_group, long template_pid,
                             bool preloaded) {
  const LogTarget log = process_log();
  DictBuilder payload;
  payload.text("process_group", process_group).integer("template_pid", template_pid).flag("preloaded", preloaded);
  py::Ref dict = py::Ref::steal(payload.release());
  if (!dict) {
    py::FetchedError error = py::fetch_error();
    log_exception(log, Level::error, ids::kEventCallbackException, "Cannot publish process_started", error);
    return;
  }
  dispatch(hooks.event_callbacks.get(), "process_started", dict.get(), log, ids::kEventCallbackException);
}

// --- MeteredChannel: counts and times what the app's I/O costs. ------------------------

std::size_t MeteredChannel::read(char* buffer, std::size_t size) {
  const std::size_t n = timed(input_time, [&] { return inner_.read(buffer, size); });
  ++input_reads;
  input_length += static_cast<std::int64_t>(n);
  return n;
}

void MeteredChannel::start_response(std::string_view status, const std::vector<Header>& headers) {
  timed(output_time, [&] { inner_.start_response(status, headers); });
}

void MeteredChannel::write(std::string_view data) {
  timed(output_time, [&] { inner_.write(data); });
  ++output_writes;
  output_length += static_cast<std::int64_t>(data.size());
}

void MeteredChannel::write_flushed(std::string_view data) {
  timed(output_time, [&] { inner_.write_flushed(data); });
  ++output_writes;
  output_length += static_cast<std::int64_t>(data.size());
}

bool MeteredChannel::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  const bool sent = timed(output_time, [&] { return inner_.send_file(fd, offset, length); });
  if (sent) {
    ++output_writes;
    output_length += static_cast<std::int64_t>(length);
  }
  return sent;
}

void MeteredChannel::flush() {
  timed(output_time, [&] { inner_.flush(); });
}

// --- RequestObserver ------------------------------------------------------------------

RequestObserver::RequestObserver(RequestContext& context, RequestChannel& channel, const LogTarget& log,
                                 bool meter, bool record) noexcept
    : context_(context), inner_(channel), metered_(channel), log_(log), meter_(meter), record_(record) {
  context_.observer = this;
  if (record_) {
    note_request_started();
    started_recorded_ = true;
  }
}

RequestObserver::~RequestObserver() { context_.observer = nullptr; }

// The keys every request event carries, plus (with_times) request_started's thread and times.
py::Ref RequestObserver::base_payload(bool with_times) {
  DictBuilder d;
  d.set("request_id", context_.request_id());
  PyObject* data = context_.request_data();
  d.set_borrowed("request_data", data ? data : nullptr);
  if (with_times) {
    d.integer("thread_id", context_.count.thread_id)
        .real("request_start", seconds_from_micros(context_.env("mod_wsgi.request_start")))
        .real("queue_start", seconds_from_micros(context_.env("mod_wsgi.queue_start")))
        .real("daemon_start", seconds_from_micros(context_.env("mod_wsgi.daemon_start")))
        .real("application_start", application_start_);
  }
  return py::Ref::steal(d.release());
}

void RequestObserver::publish(const char* name, PyObject* payload) {
  dispatch(context_.interpreter.hooks.event_callbacks.get(), name, payload, log_, ids::kEventCallbackException);
}

void RequestObserver::request_started(PyObject* environ, py::Ref& application) {
  application_start_ = wall_now();
  publish_ = meter_ && context_.interpreter.hooks.subscribed();
  if (!publish_) return;
  thread_cpu(cpu_user_start_, cpu_system_start_);
  py::Ref payload = base_payload(/*with_times=*/true);
  DictBuilder d(payload);
  d.set_borrowed("request_environ", environ)
      .set_borrowed("application_object", application.get())
      .integer("daemon_connects", env_int(context_, "mod_wsgi.daemon_connects"))
      .integer("daemon_restarts", env_int(context_, "mod_wsgi.daemon_restarts"));
  if (!d.ok()) {
    PyErr_Clear();
    return;
  }
  publish("request_started", payload.get());
  if (PyObject* replaced = PyDict_GetItemString(payload.get(), "application_object")) {  // borrowed
    application = py::Ref::borrow(replaced);
  }
}

void RequestObserver::response_started(PyObject* status, PyObject* headers, PyObject* exc_info) {
  if (!publish_) return;
  py::ErrorScope keep;
  py::Ref payload = base_payload(/*with_times=*/false);
  DictBuilder d(payload);
  d.set_borrowed("response_status", status)
      .set_borrowed("response_headers", headers)
      .set_borrowed("exception_info", exc_info ? exc_info : Py_None);
  if (!d.ok()) {
    PyErr_Clear();
    return;
  }
  publish("response_started", payload.get());
}

void RequestObserver::request_exception() {
  if (!publish_) return;
  py::ErrorScope pending;  // taken out for the callbacks, put back afterwards
  if (!pending.has_error()) return;
  const py::FetchedError& e = pending.error();
  PyObject *type = e.type.get(), *value = e.value.get(), *traceback = e.traceback.get();
  // Normalised copies for exc_info; the pending error itself is restored untouched.
  Py_XINCREF(type);
  Py_XINCREF(value);
  Py_XINCREF(traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  py::Ref t = py::Ref::steal(type), v = py::Ref::steal(value), tb = py::Ref::steal(traceback);
  py::Ref exc_info = py::Ref::steal(
      PyTuple_Pack(3, t ? t.get() : Py_None, v ? v.get() : Py_None, tb ? tb.get() : Py_None));
  py::Ref payload = base_payload(/*with_times=*/false);
  DictBuilder d(payload);
  d.set("exception_info", exc_info);
  if (!d.ok()) {
    PyErr_Clear();
    return;
  }
  publish("request_exception", payload.get());
}

void RequestObserver::request_finished(int status) {
  if (finished_) return;
  finished_ = true;
  const double finish = wall_now();
  if (record_ || metrics_recording()) {
    RequestTimes times;
    times.request_start = seconds_from_micros(context_.env("mod_wsgi.request_start"));
    times.queue_start = seconds_from_micros(context_.env("mod_wsgi.queue_start"));
    times.daemon_start = seconds_from_micros(context_.env("mod_wsgi.daemon_start"));
    times.application_start = application_start_ > 0 ? application_start_ : finish;
    times.application_finish = finish;
    times.thread_id = context_.count.thread_id;
    note_request_finished(times, started_recorded_);
  }
  if (!publish_) return;
  double user = 0, system = 0;
  thread_cpu(user, system);
  user -= cpu_user_start_;
  system -= cpu_system_start_;
  py::ErrorScope keep;
  py::Ref payload = base_payload(/*with_times=*/true);
  DictBuilder d(payload);
  d.real("application_finish", finish)
      .real("application_time", application_start_ > 0 ? finish - application_start_ : 0.0)
      .integer("input_reads", metered_.input_reads)
      .integer("input_length", metered_.input_length)
      .real("input_time", metered_.input_time)
      .integer("output_writes", metered_.output_writes)
      .integer("output_length", metered_.output_length)
      .real("output_time", metered_.output_time)
      .integer("status", status)
      .real("cpu_user_time", user)
      .real("cpu_system_time", system)
      .real("cpu_time", user + system);
  if (!d.ok()) {
    PyErr_Clear();
    return;
  }
  publish("request_finished", payload.get());
}

void notify_response_started(PyObject* status, PyObject* headers, PyObject* exc_info) {
  RequestContext* request = current_request();
  if (request && request->observer) request->observer->response_started(status, headers, exc_info);
}

}  // namespace gantry::wsgi
