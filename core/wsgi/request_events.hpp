#pragma once
// mod_wsgi's events (subscribe_events / subscribe_shutdown): request_started,
// response_started, request_exception, request_finished and process_stopping, with the
// payload keys mod_wsgi 4.9.4 and 6.0 document (the union of both, so code written for
// either finds its keys).
//
// Nothing here runs for a request unless its interpreter has an event subscriber, or its
// script is about to be loaded (the script may subscribe as it is imported), or metrics are
// being recorded: the adapter then creates a RequestObserver for the request, which meters
// the channel (input/output counts and times) and publishes. Otherwise a request costs a
// list-length check and a lookup in the interpreter's script cache.
#include <Python.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "gantry/channel.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/log_target.hpp"

namespace gantry::wsgi {

struct RequestContext;

// An interpreter's subscribers: the very lists its mod_wsgi module exposes as
// event_callbacks and shutdown_callbacks (an app appending to them directly subscribes too).
struct EventHooks {
  py::Ref event_callbacks, shutdown_callbacks;
  // GIL held.
  bool subscribed() const noexcept {
    return event_callbacks && PyList_Check(event_callbacks.get()) && PyList_GET_SIZE(event_callbacks.get()) > 0;
  }
};

// process_stopping (shutdown_reason = `reason`) to the current interpreter's event and then
// shutdown callbacks. GIL held; callback exceptions are logged (GANTRY0141).
void publish_process_stopping(const EventHooks& hooks, std::string_view reason);

// Gantry's process_started (docs/template.md): once per daemon process, before it accepts
// requests, once its preload scripts are in (imported by it, or by the template it was
// forked from: then `preloaded`, and `template_pid` is that template's). GIL held.
void publish_process_started(const EventHooks& hooks, std::string_view process_group, long template_pid,
                             bool preloaded);

// The request's channel as the app's reads and writes see it, counting and timing them for
// request_finished. Forwards everything else unchanged.
class MeteredChannel final : public RequestChannel {
 public:
  explicit MeteredChannel(RequestChannel& inner) noexcept : inner_(inner) {}

  std::span<const EnvEntry> environ() const override { return inner_.environ(); }
  ServerTraits traits() const override { return inner_.traits(); }
  std::size_t read(char* buffer, std::size_t size) override;
  void start_response(std::string_view status, const std::vector<Header>& headers) override;
  void write(std::string_view data) override;
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override;
  bool buffers_file() const override { return inner_.buffers_file(); }
  bool buffers_headers() const override { return inner_.buffers_headers(); }
  bool buffers_write(std::size_t bytes) const override { return inner_.buffers_write(bytes); }
  void flush() override;
  void write_flushed(std::string_view data) override;
  void log(Level level, std::string_view message) override { inner_.log(level, message); }

  std::int64_t input_reads = 0, input_length = 0, output_writes = 0, output_length = 0;
  double input_time = 0, output_time = 0;

 private:
  RequestChannel& inner_;
};

// One observed request. Lives on the request's stack, inside its GIL activation.
class RequestObserver {
 public:
  // `meter`: the request may publish events (its interpreter has subscribers, or may have
  // once its script is loaded), so its I/O is metered; whether it does is decided at
  // request_started. `record`: metrics are being recorded.
  RequestObserver(RequestContext& context, RequestChannel& channel, const LogTarget& log, bool meter,
                  bool record) noexcept;
  ~RequestObserver();
  RequestObserver(const RequestObserver&) = delete;
  RequestObserver& operator=(const RequestObserver&) = delete;

  // The channel the adapter must use for this request (metered when publishing).
  RequestChannel& channel() noexcept { return meter_ ? static_cast<RequestChannel&>(metered_) : inner_; }

  // Just before the application is called: request_started. A subscriber may replace the
  // application (returning {"application_object": wrapper}); `application` is updated.
  void request_started(PyObject* environ, py::Ref& application);
  // start_response() accepted a status and headers.
  void response_started(PyObject* status, PyObject* headers, PyObject* exc_info);
  // An exception is about to be reported; it stays pending.
  void request_exception();
  // The response is over (whatever the outcome): request_finished, and the metrics.
  void request_finished(int status);

 private:
  py::Ref base_payload(bool with_times);
  void publish(const char* name, PyObject* payload);

  RequestContext& context_;
  RequestChannel& inner_;
  MeteredChannel metered_;
  LogTarget log_;
  bool meter_, record_, publish_ = false, started_recorded_ = false, finished_ = false;
  double application_start_ = 0;
  double cpu_user_start_ = 0, cpu_system_start_ = 0;
};

// start_response() hook: response_started for the calling thread's request, if observed.
void notify_response_started(PyObject* status, PyObject* headers, PyObject* exc_info);

}  // namespace gantry::wsgi
