#include "apache_channel.hpp"

#include <apr_strings.h>
#include <http_config.h>
#include <http_connection.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "apache_log.hpp"
#include "gantry/scoped_fd.hpp"
#include "gantry_hooks.h"

APLOG_USE_MODULE(wsgi);

namespace gantry::module {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

ChannelError input_error(apr_status_t status) {
  if (status == AP_FILTER_ERROR)
    // HTTP_IN already chose the answer (413 over LimitRequestBody, 400 bad chunking...).
    return ChannelError(ChannelError::Kind::bad_request_body,
                        "request body rejected by Apache (LimitRequestBody exceeded or malformed body)");
  char reason[120];
  apr_strerror(status, reason, sizeof reason);
  if (APR_STATUS_IS_TIMEUP(status))
    return ChannelError(ChannelError::Kind::timeout, std::string("request body read timed out: ") + reason);
  // HTTP_IN says INCOMPLETE (and the core EOF) when the socket ends before the body does:
  // the client hung up mid-upload, which is not a malformed body.
  if (status == APR_INCOMPLETE || APR_STATUS_IS_EOF(status) || APR_STATUS_IS_ECONNRESET(status))
    return ChannelError(ChannelError::Kind::client_gone,
                        std::string("the client closed the connection before sending the whole "
                                    "request body (") + reason + ")");
  if (status == APR_EGENERAL)
    return ChannelError(ChannelError::Kind::bad_request_body, std::string("request body is malformed: ") + reason);
  return ChannelError(ChannelError::Kind::client_gone, std::string("request body read failed: ") + reason);
}

apr_status_t close_fd(void* data) {
  ::close(static_cast<int>(reinterpret_cast<std::intptr_t>(data)));
  return APR_SUCCESS;
}

}  // namespace

ApacheChannel::ApacheChannel(request_rec* r, std::vector<EnvEntry> environ, ServerTraits traits,
                             bool allow_file_buckets)
    : r_(r), environ_(std::move(environ)), traits_(traits), allow_file_buckets_(allow_file_buckets) {
  in_ = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  out_ = apr_brigade_create(r->pool, r->connection->bucket_alloc);
}

std::size_t ApacheChannel::read(char* buffer, std::size_t size) {
  if (input_done_ || size == 0) return 0;
  for (;;) {
    // HTTP_IN hands over at most `size` bytes, already de-chunked and limited to the
    // declared length (and to LimitRequestBody): the body is never held whole.
    apr_status_t rv = ap_get_brigade(r_->input_filters, in_, AP_MODE_READBYTES, APR_BLOCK_READ,
                                     static_cast<apr_off_t>(size));
    if (rv != APR_SUCCESS) {
      apr_brigade_cleanup(in_);
      input_done_ = true;
      // AP_FILTER_ERROR: HTTP_IN has already sent its error page (400 bad chunking, 413
      // over LimitRequestBody) down the output filters, EOS included.
      if (rv == AP_FILTER_ERROR) reject_body(DONE);
      body_timed_out_ = APR_STATUS_IS_TIMEUP(rv);
      throw input_error(rv);
    }
    std::size_t got = 0;
    for (apr_bucket* b = APR_BRIGADE_FIRST(in_); b != APR_BRIGADE_SENTINEL(in_); b = APR_BUCKET_NEXT(b)) {
      if (APR_BUCKET_IS_EOS(b)) {
        input_done_ = true;
        break;
      }
      if (AP_BUCKET_IS_ERROR(b)) {
        const int status = static_cast<ap_bucket_error*>(b->data)->status;
        apr_brigade_cleanup(in_);
        input_done_ = true;
        reject_body(status);  // nothing answered yet: the handler returns this status
        // HTTP_IN's verdict on the body (413 over LimitRequestBody, 400 bad chunking...).
        throw ChannelError(ChannelError::Kind::bad_request_body,
                           "request body rejected by Apache with status " + std::to_string(status));
      }
      if (APR_BUCKET_IS_METADATA(b)) continue;
      const char* data = nullptr;
      apr_size_t length = 0;
      rv = apr_bucket_read(b, &data, &length, APR_BLOCK_READ);
      if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(in_);
        input_done_ = true;
        body_timed_out_ = APR_STATUS_IS_TIMEUP(rv);
        throw input_error(rv);
      }
      const std::size_t n = std::min<std::size_t>(length, size - got);
      std::memcpy(buffer + got, data, n);
      got += n;
      if (got == size) break;  // HTTP_IN never returns more than asked for
    }
    apr_brigade_cleanup(in_);
    if (got || input_done_) return got;
    if (r_->connection->aborted)
      throw ChannelError(ChannelError::Kind::client_gone, "client closed the connection");
  }
}

void ApacheChannel::reject_body(int status) {
  rejected_body_status_ = status;
  // The rest of the body is unread (or unreadable): the connection cannot carry another
  // request.
  r_->connection->keepalive = AP_CONN_CLOSE;
  apr_brigade_cleanup(out_);  // small writes held back must not follow Apache's answer
  buffered_ = 0;
}

void ApacheChannel::start_response(std::string_view status, const std::vector<Header>& headers) {
  if (rejected_body_status_) {
    started_ = true;  // accepted and dropped, as everything after the body was refused
    return;
  }
  if (started_) throw ChannelError(ChannelError::Kind::internal, "start_response called twice");
  int code = 0;
  auto [end, ec] = std::from_chars(status.data(), status.data() + std::min<std::size_t>(3, status.size()), code);
  if (ec != std::errc() || end != status.data() + 3 || code < 100 || code > 999)
    throw ChannelError(ChannelError::Kind::internal, "invalid status line '" + std::string(status) + "'");
  if (override_errors_ && ap_is_HTTP_ERROR(code)) {
    overridden_status_ = code;  // r_ keeps nothing of this response
    started_ = true;
    return;
  }
  r_->status = code;
  r_->status_line = apr_pstrmemdup(r_->pool, status.data(), status.size());
  for (const Header& h : headers) {
    const char* value = apr_pstrmemdup(r_->pool, h.value.data(), h.value.size());
    if (iequals(h.name, "Content-Type")) {
      ap_set_content_type(r_, value);
    } else if (iequals(h.name, "Content-Length")) {
      std::uint64_t length = 0;
      auto [p, err] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), length);
      if (err != std::errc() || p != h.value.data() + h.value.size())
        throw ChannelError(ChannelError::Kind::internal, "invalid Content-Length '" + h.value + "'");
      has_length_ = true;
      remaining_ = length;
      ap_set_content_length(r_, static_cast<apr_off_t>(length));
    } else if (iequals(h.name, "Transfer-Encoding")) {
      // Apache frames the response itself; an app's Transfer-Encoding would lie about it.
      continue;
    } else {
      apr_table_addn(r_->headers_out, apr_pstrmemdup(r_->pool, h.name.data(), h.name.size()), value);
    }
  }
  started_ = true;
}

std::uint64_t ApacheChannel::clamp_to_content_length(std::uint64_t size) {
  if (!has_length_) return size;
  // Bytes past the declared Content-Length would corrupt the next response on a
  // keep-alive connection: drop them, as mod_wsgi does.
  const std::uint64_t n = std::min(size, remaining_);
  remaining_ -= n;
  return n;
}

void ApacheChannel::fail_output(apr_status_t status) {
  char reason[120];
  apr_strerror(status, reason, sizeof reason);
  if (APR_STATUS_IS_TIMEUP(status))
    throw ChannelError(ChannelError::Kind::timeout, std::string("response write timed out: ") + reason);
  throw ChannelError(ChannelError::Kind::client_gone, std::string("failed to write response: ") + reason);
}

void ApacheChannel::pass(apr_bucket* bucket) {
  if (bucket) APR_BRIGADE_INSERT_TAIL(out_, bucket);
  sent_ = true;
  buffered_ = 0;
  const apr_status_t rv = ap_pass_brigade(r_->output_filters, out_);
  apr_brigade_cleanup(out_);
  if (rv != APR_SUCCESS || r_->connection->aborted) fail_output(rv != APR_SUCCESS ? rv : APR_ECONNABORTED);
}

void ApacheChannel::write(std::string_view data) {
  if (overridden_status_ || rejected_body_status_) return;
  const auto n = static_cast<apr_size_t>(clamp_to_content_length(data.size()));
  if (n == 0) return;
  if (buffers_write(n)) {  // copied: the caller's bytes may be gone before they are passed
    APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_heap_create(data.data(), n, nullptr, r_->connection->bucket_alloc));
    buffered_ += n;
    return;
  }
  // Transient: no copy here; a filter that has to hold on to the bytes sets them aside.
  pass(apr_bucket_transient_create(data.data(), n, r_->connection->bucket_alloc));
}

bool ApacheChannel::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  if (overridden_status_ || rejected_body_status_) return true;  // dropped, as the rest of the response
  if (!allow_file_buckets_) return false;
  length = clamp_to_content_length(length);
  if (length == 0) return true;
  // The app (or the daemon's FILE frame) closes its descriptor as soon as we return; the
  // bucket needs its own until the core output filter has sent it.
  ScopedFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy) return false;
  apr_file_t* file = nullptr;
  apr_os_file_t os_fd = copy.get();
  apr_os_file_put(&file, &os_fd, APR_FOPEN_READ | (sendfile_ ? APR_FOPEN_SENDFILE_ENABLED : 0), r_->pool);
  apr_brigade_insert_file(out_, file, static_cast<apr_off_t>(offset), static_cast<apr_off_t>(length), r_->pool);
  if (deferred_fd_ < 0) {
    // One file at a time may still be in the core's hands after the handler returns (the
    // event MPM finishes a large write asynchronously): the request pool closes it.
    deferred_fd_ = copy.release();
    apr_pool_cleanup_register(r_->pool, reinterpret_cast<void*>(static_cast<std::intptr_t>(deferred_fd_)),
                              close_fd, apr_pool_cleanup_null);
    pass(nullptr);
    return true;
  }
  // A second file while the first may still be held: flushed, so both are written when
  // pass() returns and both descriptors are closed now. A response made of many files (a
  // daemon sending FILE after FILE) holds two descriptors at most, not one per file.
  try {
    pass(apr_bucket_flush_create(r_->connection->bucket_alloc));
  } catch (const ChannelError&) {
    // A failed write may leave the buckets set aside: the pool closes this one too.
    apr_pool_cleanup_register(r_->pool, reinterpret_cast<void*>(static_cast<std::intptr_t>(copy.release())),
                              close_fd, apr_pool_cleanup_null);
    throw;
  }
  apr_pool_cleanup_run(r_->pool, reinterpret_cast<void*>(static_cast<std::intptr_t>(deferred_fd_)), close_fd);
  deferred_fd_ = -1;
  return true;
}

void ApacheChannel::flush() {
  if (overridden_status_ || rejected_body_status_) return;
  pass(apr_bucket_flush_create(r_->connection->bucket_alloc));
}

// The block and a FLUSH in one brigade: one pass down the filter chain, and the core
// output filter writes the transient bytes at once instead of first setting aside (copying)
// what a non-blocking write left over.
void ApacheChannel::write_flushed(std::string_view data) {
  if (overridden_status_ || rejected_body_status_) return;
  const auto n = static_cast<apr_size_t>(clamp_to_content_length(data.size()));
  if (n > 0) APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_transient_create(data.data(), n, r_->connection->bucket_alloc));
  pass(apr_bucket_flush_create(r_->connection->bucket_alloc));
}

void ApacheChannel::log(Level level, std::string_view message) {
  ap_log_rerror(APLOG_MARK, to_aplog(level), 0, r_, "%.*s", static_cast<int>(message.size()), message.data());
}

void ApacheChannel::finish() {
  // Apache's error document ends it instead
  if (finished_ || overridden_status_ || rejected_body_status_) return;
  // A body shorter than its Content-Length is the adapter's call (GANTRY0116, which also
  // knows when short is fine: HEAD, 1xx/204/304): it logs and reports the request as
  // aborted, so finish() is not reached for a truncated body. (GANTRY0030, which said it
  // again here, is retired.)
  finished_ = true;
  pass(apr_bucket_eos_create(r_->connection->bucket_alloc));
}

void ApacheChannel::discard_unsent_response() {
  if (sent_) return;
  apr_brigade_cleanup(out_);  // small writes that were still held back
  buffered_ = 0;
  // Headers the app set must not leak into the error page Apache is about to send.
  apr_table_clear(r_->headers_out);
  r_->content_type = nullptr;
  r_->status_line = nullptr;
  r_->status = HTTP_OK;
  has_length_ = false;
}

void ApacheChannel::abort_response() {
  // Nothing went out: the error document answers (Apache's own, for a refused body).
  if (finished_ || overridden_status_ || rejected_body_status_) return;
  // Small writes still held back go out first, as they would have without the holding
  // back: the client sees the status and the partial body, then the break (an error
  // bucket ahead of any sent header would turn into an error page instead).
  if (buffered_ > 0) {
    try {
      pass(nullptr);
    } catch (const ChannelError&) {
      // The client is gone; the abort below is all that is left to do.
    }
  }
  finished_ = true;
  conn_rec* c = r_->connection;
  c->keepalive = AP_CONN_CLOSE;
  r_->no_cache = 1;
  if (r_->main) r_->main->no_cache = 1;
  // HTTP_OUTERROR sees the error bucket after headers went out and makes the connection
  // close without a final chunk, so the client knows the body is incomplete.
  APR_BRIGADE_INSERT_TAIL(out_, ap_bucket_error_create(HTTP_BAD_GATEWAY, nullptr, r_->pool, c->bucket_alloc));
  APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_eos_create(c->bucket_alloc));
  sent_ = true;
  ap_pass_brigade(r_->output_filters, out_);
  apr_brigade_cleanup(out_);
}

}  // namespace gantry::module
