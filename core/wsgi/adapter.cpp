// One request through a WSGI application: environ, call, response iteration, close().
#include "wsgi/adapter.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <optional>

#include <string>

#include "gantry/py/error.hpp"
#include "gantry/py/gil.hpp"
#include "gantry/py/ref.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/file_wrapper.hpp"
#include "wsgi/input_stream.hpp"
#include "wsgi/interpreters.hpp"
#include "wsgi/log_ids.hpp"
#include "wsgi/log_stream.hpp"
#include "wsgi/process_metrics.hpp"
#include "wsgi/request_context.hpp"
#include "wsgi/request_counters.hpp"
#include "wsgi/request_events.hpp"
#include "wsgi/request_interrupt.hpp"
#include "wsgi/response.hpp"
#include "wsgi/script_loader.hpp"
#include "wsgi/start_response.hpp"

namespace gantry::wsgi {
namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// The per-request objects handed to the app. At request end they are cut loose from the
// channel and Response (which die with this call), whatever the app kept references to.
struct RequestObjects {
  py::Ref input, errors, start_response;
  ~RequestObjects() {
    if (start_response) detach_start_response(start_response.get());
    if (input) detach_input_stream(input.get());
    if (errors) detach_log_stream(errors.get());  // also logs a pending partial line
  }
};

class RequestRun {
 public:
  RequestRun(Interpreter& interpreter, const ScriptTarget& target, RequestChannel& channel, const LogTarget& log,
             std::span<const EnvEntry> cgi, ServerTraits traits, RequestCount count, const ScriptStat* script_stat,
             RequestContext& context)
      : script_stat_(script_stat),
        context_(context),
        observer_(context.observer),
        interpreter_(interpreter),
        target_(target),
        channel_(channel),
        log_(log),
        cgi_(cgi),
        traits_(traits),
        count_(count),
        response_(channel, log, target.script_path) {}

  Outcome run() {
    Outcome outcome = run_application();
    if (observer_) observer_->request_finished(response_.status_code());
    return outcome;
  }

 private:
  Outcome run_application() {
    py::Ref module, application;
    Outcome loaded = load_script(interpreter_, target_, log_, module, script_stat_);
    if (loaded != Outcome::ok) return loaded;
    loaded = find_application(module.get(), target_, log_, application);
    if (loaded != Outcome::ok) return loaded;
    // mod_wsgi.request_data() / active_requests see the request from here on (as under
    // mod_wsgi, not while its script is being imported).
    CurrentRequest current(context_);

    RequestObjects objects;
    objects.input = py::Ref::steal(new_input_stream(channel_));
    objects.errors = py::Ref::steal(
        new_log_stream(log_.logger, &channel_, Level::error, ids::kWsgiErrors, "<wsgi.errors>"));
    objects.start_response = py::Ref::steal(new_start_response(response_));
    if (!objects.input || !objects.errors || !objects.start_response) return report_exception();
    if (!interpreter_.keys.ready() && !interpreter_.keys.init()) return report_exception();
    bool is_head = false;
    py::Ref environ = build_environ(interpreter_.keys, cgi_, traits_, count_, objects.input.get(), objects.errors.get(),
                                    reinterpret_cast<PyObject*>(&FileWrapperType), is_head);
    if (!environ) return report_exception();
    response_.set_head_request(is_head);
    if (observer_) observer_->request_started(environ.get(), application);

    py::Ref result = py::Ref::steal(
        PyObject_CallFunctionObjArgs(application.get(), environ.get(), objects.start_response.get(), nullptr));
    environ.reset();
    if (!result) return report_exception();
    Outcome outcome = send(result.get());
    call_close(result.get());
    return outcome;
  }

  // A Python exception is pending: log it and decide what the server must do.
  Outcome report_exception() {
    if (observer_) observer_->request_exception();
    py::FetchedError error = py::fetch_error();
    if (response_.client_gone()) return Outcome::aborted;  // logged at info when it happened
    if (is_request_timeout(error.type.get())) return answer_timeout(error);
    log_exception(log_, Level::error, ids::kRequestException,
                  "Exception occurred processing WSGI script " + quoted(target_.script_path), error);
    return response_.headers_sent() ? Outcome::aborted : Outcome::server_error;
  }

  // mod_wsgi.RequestTimeout (raised by the app, or injected by interrupt-timeout) ended
  // the request: a gateway timeout, not an application error - one info line, no
  // traceback, and 504 if no response had gone out yet.
  Outcome answer_timeout(const py::FetchedError& error) {
    py::Ref reason = error.value ? py::Ref::steal(PyObject_Str(error.value.get())) : py::Ref();
    const char* text = reason ? PyUnicode_AsUTF8(reason.get()) : nullptr;
    if (!text) PyErr_Clear();
    const bool answered = !response_.headers_sent();
    log_.log(Level::info, ids::kRequestTimedOut,
             "Request to WSGI script " + quoted(target_.script_path) + " ended by mod_wsgi.RequestTimeout" +
                 (text && *text ? std::string(" (") + text + ")" : std::string()) +
                 (answered ? "; answered 504 Gateway Timeout" : "; the response was cut short"));
    if (!answered) return Outcome::aborted;
    static constexpr std::string_view body = "Gateway Timeout: the request took too long.\n";
    py::Ref status = py::Ref::steal(PyUnicode_FromString("504 Gateway Timeout"));
    py::Ref headers = py::Ref::steal(Py_BuildValue("[(ss)(ss)]", "Content-Type", "text/plain; charset=utf-8",
                                                   "Content-Length", std::to_string(body.size()).c_str()));
    if (!status || !headers || !response_.start(status.get(), headers.get(), nullptr)) {
      PyErr_Clear();
      return Outcome::server_error;
    }
    auto sent = response_.write(body, /*flush=*/false);
    if (!sent) {
      PyErr_Clear();
      return Outcome::aborted;
    }
    return *sent == Response::Send::ok ? Outcome::ok : Outcome::aborted;
  }

  Outcome send(PyObject* result) {
    if (Py_IS_TYPE(result, &FileWrapperType)) {
      if (auto sent = try_send_file(result)) return *sent;
      if (PyErr_Occurred()) return report_exception();
    }
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
      // Fast path: no iterator object, and one flush (by the server) at the end.
      for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); ++i) {
        py::Ref item = py::Ref::borrow(PySequence_Fast_GET_ITEM(result, i));  // the list may change meanwhile
        if (auto stop = send_item(item.get(), /*flush=*/false)) return *stop;
      }
    } else {
      py::Ref iterator = py::Ref::steal(PyObject_GetIter(result));
      if (!iterator) return report_exception();
      while (py::Ref item = py::Ref::steal(PyIter_Next(iterator.get()))) {
        // Streaming responses (generators) expect each block to reach the client.
        if (auto stop = send_item(item.get(), /*flush=*/true)) return *stop;
      }
      if (PyErr_Occurred()) return report_exception();
    }
    return finish();
  }

  // nullopt: keep going; otherwise the request's outcome.
  std::optional<Outcome> send_item(PyObject* item, bool flush) {
    if (!PyBytes_Check(item)) {
      PyErr_Format(PyExc_TypeError, "sequence of byte string values expected, value of type %.200s found",
                   Py_TYPE(item)->tp_name);
      return report_exception();
    }
    auto sent = response_.write(
        std::string_view(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item))), flush);
    if (!sent) return report_exception();
    if (*sent == Response::Send::failed) return Outcome::aborted;
    return std::nullopt;
  }

  // The iterable is exhausted: headers go out now if no body did.
  Outcome finish() {
    if (!response_.started()) {
      log_.log(Level::error, ids::kNoStartResponse,
               "WSGI script " + quoted(target_.script_path) +
                   " returned its response without calling start_response()");
      return Outcome::server_error;
    }
    auto sent = response_.finish_headers();
    if (!sent) return report_exception();
    if (*sent == Response::Send::failed) return Outcome::aborted;
    const auto& declared = response_.content_length();
    if (declared && response_.bytes_sent() < *declared && !response_.body_may_be_short()) {
      log_.log(Level::error, ids::kContentLengthShort,
               "WSGI script " + quoted(target_.script_path) + " declared Content-Length " +
                   std::to_string(*declared) + " but returned only " + std::to_string(response_.bytes_sent()) +
                   " bytes; the connection is closed so the client notices");
      return Outcome::aborted;
    }
    return Outcome::ok;
  }

  // wsgi.file_wrapper over a real file: hand the descriptor to the channel. nullopt means
  // "not applicable / channel declined: iterate instead" (a Python error may be pending
  // only if something failed that iteration must report).
  std::optional<Outcome> try_send_file(PyObject* wrapper) {
    FileWrapperView view = file_wrapper_view(wrapper);
    if (!view.filelike || !response_.started()) return std::nullopt;
    py::Ref fileno = py::Ref::steal(PyObject_CallMethod(view.filelike, "fileno", nullptr));
    long fd_value = fileno ? PyLong_AsLong(fileno.get()) : -1;
    int fd = (fd_value >= 0 && fd_value <= INT_MAX) ? static_cast<int>(fd_value) : -1;
    if (fd < 0) {
      PyErr_Clear();  // not a real file (BytesIO...): fall back to reading blocks
      return std::nullopt;
    }
    // tell() is the logical position (a buffered reader's fd may be ahead of it).
    py::Ref tell = py::Ref::steal(PyObject_CallMethod(view.filelike, "tell", nullptr));
    long long offset = tell ? PyLong_AsLongLong(tell.get()) : -1;
    if (offset < 0) {
      PyErr_Clear();
      offset = ::lseek(fd, 0, SEEK_CUR);
    }
    struct stat st {};
    if (offset < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    std::uint64_t available = st.st_size > offset ? static_cast<std::uint64_t>(st.st_size - offset) : 0;
    std::uint64_t length = available;
    if (const auto& declared = response_.content_length()) length = std::min(*declared, available);
    auto done = response_.send_file(fd, static_cast<std::uint64_t>(offset), length);
    if (!done) return report_exception();
    if (response_.channel_failed()) return Outcome::aborted;
    if (!*done) return std::nullopt;  // channel cannot sendfile: read blocks instead
    return finish();
  }

  // PEP 3333: close() is called whatever happened, if the iterable has one.
  void call_close(PyObject* result) {
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result) || PyBytes_CheckExact(result)) return;
    py::ErrorScope keep;
    py::Ref close = py::Ref::steal(PyObject_GetAttrString(result, "close"));
    if (!close) {
      PyErr_Clear();  // no close(): nothing to do
      return;
    }
    py::Ref done = py::Ref::steal(PyObject_CallNoArgs(close.get()));
    if (!done) {
      py::FetchedError error = py::fetch_error();
      log_exception(log_, Level::error, ids::kCloseException,
                    "Exception occurred in close() of the response of WSGI script " + quoted(target_.script_path),
                    error);
    }
  }

  const ScriptStat* script_stat_;
  RequestContext& context_;
  RequestObserver* observer_;  // null unless events are published or metrics recorded
  Interpreter& interpreter_;
  const ScriptTarget& target_;
  RequestChannel& channel_;
  const LogTarget& log_;
  std::span<const EnvEntry> cgi_;
  ServerTraits traits_;
  RequestCount count_;
  Response response_;
};

}  // namespace

Outcome run_request(const ScriptTarget& target, RequestChannel& channel) noexcept {
  LogTarget log{&channel, python_settings().logger};
  try {
    if (!python_running()) {
      log.log(Level::error, ids::kNotInitialized,
              "Cannot run WSGI script " + quoted(target.script_path) +
                  ": Python is not initialised in this process (or already shut down)");
      return Outcome::server_error;
    }
    // The channel's request facts are read before taking the GIL.
    std::span<const EnvEntry> cgi = channel.environ();
    ServerTraits traits = channel.traits();
    RequestCount count = count_request();
    // WSGIScriptReloading stats the script on every request: do it now, without the GIL,
    // rather than drop and re-take the GIL for it inside load_script.
    std::optional<ScriptStat> script_stat;
    if (target.reload_on_change) script_stat = stat_script(target);
    auto binding = bind_interpreter(target.application_group, log);
    if (!binding) return Outcome::server_error;
    py::ThreadStateActivation active(binding->thread_state);
    RequestContext context(*binding->interpreter, cgi, count);
    // Events and metrics: only when someone listens, or may once the script is imported
    // (request_events.hpp).
    Interpreter& interpreter = *binding->interpreter;
    const bool may_publish =
        interpreter.hooks.subscribed() || interpreter.scripts.find(target.script_path) == interpreter.scripts.end();
    const bool record = metrics_recording();
    std::optional<RequestObserver> observer;
    if (may_publish || record) observer.emplace(context, channel, log, may_publish, record);
    RequestRun run(*binding->interpreter, target, observer ? observer->channel() : channel, log, cgi, traits, count,
                   script_stat ? &*script_stat : nullptr, context);
    return run.run();
  } catch (const std::exception& e) {
    log.log(Level::error, ids::kInternalError,
            "Internal error running WSGI script " + quoted(target.script_path) + ": " + e.what());
  } catch (...) {
    log.log(Level::error, ids::kInternalError, "Internal error running WSGI script " + quoted(target.script_path));
  }
  return Outcome::aborted;  // unknown how far the response got: the connection must close
}

bool import_script(const ScriptTarget& target) noexcept {
  LogTarget log = process_log();
  try {
    if (!python_running()) {
      log.log(Level::error, ids::kNotInitialized,
              "Cannot import WSGI script " + quoted(target.script_path) + ": Python is not initialised");
      return false;
    }
    auto binding = bind_interpreter(target.application_group, log);
    if (!binding) return false;
    py::ThreadStateActivation active(binding->thread_state);
    py::Ref module;
    return load_script(*binding->interpreter, target, log, module) == Outcome::ok;
  } catch (const std::exception& e) {
    log.log(Level::error, ids::kInternalError,
            "Internal error importing WSGI script " + quoted(target.script_path) + ": " + e.what());
  }
  return false;
}

}  // namespace gantry::wsgi
