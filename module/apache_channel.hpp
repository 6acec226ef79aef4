#pragma once
// gantry::RequestChannel over an Apache request_rec: the request body comes from the
// input filter chain, the response goes down the output filter chain. Used for embedded
// mode now, and later to relay a daemon's response to the client.
//
// One channel serves one request on one thread; it allocates from r->pool and reuses one
// brigade per direction.
#include <httpd.h>
#include <apr_buckets.h>

#include <cstdint>
#include <vector>

#include "gantry/channel.hpp"

namespace gantry::module {

class ApacheChannel final : public RequestChannel {
 public:
  ApacheChannel(request_rec* r, std::vector<EnvEntry> environ, ServerTraits traits,
                bool allow_file_buckets);

  std::span<const EnvEntry> environ() const override { return environ_; }
  ServerTraits traits() const override { return traits_; }
  // Adds a key known only once the request is under way (daemon mode: the connect
  // statistics mod_wsgi reports), before the environ is sent anywhere.
  void add_environ(std::string key, std::string value) {
    environ_.push_back({std::move(key), std::move(value)});
  }
  std::size_t read(char* buffer, std::size_t size) override;
  void start_response(std::string_view status, const std::vector<Header>& headers) override;
  void write(std::string_view data) override;
  // start_response() only fills in request_rec; small writes are copied into the output
  // brigade and go down the filters with the next flush, file, large write or the end of
  // the response. The adapter keeps the GIL across both: a small list response makes no
  // system call until run_request() has returned and released it.
  bool buffers_headers() const override { return true; }
  bool buffers_write(std::size_t bytes) const override {
    return bytes <= kBufferBelow && buffered_ + bytes <= kBufferLimit;
  }
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) override;
  void flush() override;
  void write_flushed(std::string_view data) override;
  void log(Level level, std::string_view message) override;

  // Ends a complete response (EOS down the chain). Logs and breaks the response instead
  // if the app sent less than its Content-Length.
  void finish();
  // Forgets a response that was started but not sent, before the handler returns an
  // error status for Apache to answer with.
  void discard_unsent_response();
  // Makes the client see a broken response (headers already gone): error bucket + EOS,
  // connection not kept alive - the same thing mod_proxy does when a backend dies.
  void abort_response();

  // True once anything went down the output filters (the status line may be out): from
  // then on the only way to report a failure is abort_response().
  bool response_sent() const { return sent_; }

  // WSGIErrorOverride On (daemon mode): a response with an error status (400-599) is not
  // relayed. Its headers and body are dropped as they arrive, and the handler returns the
  // status so that Apache answers with its own error document (ErrorDocument), as
  // ProxyErrorOverride does for mod_proxy.
  void override_error_responses() { override_errors_ = true; }
  // WSGIEnableSendfile On: a file the application returns (wsgi.file_wrapper) may go out
  // with sendfile(). Off (the default, as in mod_wsgi, because sendfile() is unreliable on
  // NFS, FUSE and some overlay file systems) it is still a file bucket, read (or mapped) by
  // Apache's core output filter.
  void use_sendfile(bool on) { sendfile_ = on; }
  // The error status taken over that way; 0 if none.
  int overridden_status() const { return overridden_status_; }

  // Apache's input filter refused the request body (400 bad chunking, 413 over
  // LimitRequestBody...): from then on nothing of the application's response is written
  // (headers, body, files are dropped) and the connection closes. What the handler must
  // return, whatever the application did: DONE when Apache already answered, else the
  // status to answer with; 0 while the body was not refused.
  int rejected_body_status() const { return rejected_body_status_; }
  // What to answer for an application that failed before its response started: 408 when
  // reading the request body timed out (mod_reqtimeout's body=, Timeout) - the client did
  // not send its request in time, as Apache itself answers then and mod_wsgi's daemon mode
  // does - else 500. An application that caught the timeout and answered keeps its answer.
  int app_failure_status() const {
    return body_timed_out_ ? HTTP_REQUEST_TIME_OUT : HTTP_INTERNAL_SERVER_ERROR;
  }

 private:
  void pass(apr_bucket* bucket);  // appends and sends `bucket` (may be null: just send)
  std::uint64_t clamp_to_content_length(std::uint64_t size);
  [[noreturn]] void fail_output(apr_status_t status);
  void reject_body(int status);

  static constexpr std::size_t kBufferBelow = 16 * 1024;  // larger writes go out uncopied
  static constexpr std::size_t kBufferLimit = 64 * 1024;  // bytes held back at most

  request_rec* r_;
  std::vector<EnvEntry> environ_;
  ServerTraits traits_;
  bool allow_file_buckets_;
  apr_bucket_brigade* in_ = nullptr;
  apr_bucket_brigade* out_ = nullptr;
  bool input_done_ = false;
  bool started_ = false;
  bool sent_ = false;
  bool finished_ = false;
  bool has_length_ = false;
  std::uint64_t remaining_ = 0;  // of the declared Content-Length
  std::size_t buffered_ = 0;     // bytes of small writes waiting in out_
  bool override_errors_ = false;
  bool sendfile_ = false;
  int overridden_status_ = 0;    // set: everything of the response is dropped
  int rejected_body_status_ = 0;  // see rejected_body_status()
  bool body_timed_out_ = false;   // a read of the request body timed out (app_failure_status)
  int deferred_fd_ = -1;         // a file bucket's descriptor the request pool will close
};

}  // namespace gantry::module
