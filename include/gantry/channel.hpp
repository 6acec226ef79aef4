#pragma once
// The request channel: everything the WSGI adapter needs from "the server", and nothing
// else. Embedded mode implements it over Apache's request_rec and brigades
// (module/embedded_channel.*); daemon mode over the socket to an Apache child
// (daemon/socket_channel.*); the unit tests with a fake. The adapter never sees APR,
// httpd or the wire protocol, so there is one copy of the WSGI logic.
//
// Threading: the adapter calls these methods with the GIL released, from the thread that
// runs the request. Implementations are Python-agnostic.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/log.hpp"

namespace gantry {

struct EnvEntry {
  std::string key;
  std::string value;
};

struct Header {
  std::string name;
  std::string value;
};

// Facts about the serving process that PEP 3333 exposes as wsgi.* keys.
struct ServerTraits {
  bool multithread = false;
  bool multiprocess = true;
  bool run_once = false;
};

// Thrown by a channel when the conversation with the client cannot go on: the client went
// away, a read or write timed out, the body was malformed. The adapter turns it into an
// OSError in Python (reads/writes) and stops the response.
class ChannelError : public std::runtime_error {
 public:
  enum class Kind { client_gone, timeout, bad_request_body, internal };
  ChannelError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// How a request ended, as the server side needs to know it. The Python side returns it
// from run_request; in daemon mode it also crosses the socket in the END frame.
enum class Outcome {
  ok,               // the response went out complete
  not_found,        // script file missing: answer 404, nothing was sent
  server_error,     // failed before start_response took effect: answer 500, nothing sent
  aborted,          // failed after headers went out, or client gone: close the connection
};

class RequestChannel {
 public:
  virtual ~RequestChannel() = default;

  // The CGI variables as the server computed them (SCRIPT_NAME/PATH_INFO already split,
  // HTTP_*, SetEnv values, mod_wsgi.* keys). The adapter adds the wsgi.* keys itself.
  virtual std::span<const EnvEntry> environ() const = 0;
  virtual ServerTraits traits() const = 0;

  // Reads up to `size` bytes of the request body into `buffer`; 0 means the body is over.
  // A chunked body is de-chunked here. Throws ChannelError.
  virtual std::size_t read(char* buffer, std::size_t size) = 0;

  // Starts the response. Called at most once, before any write/send_file. `status` is the
  // full status line from the app ("200 OK"); headers are already validated and never
  // include hop-by-hop headers. Throws ChannelError.
  virtual void start_response(std::string_view status, const std::vector<Header>& headers) = 0;

  // Sends body bytes (after start_response). Throws ChannelError (client_gone etc.).
  virtual void write(std::string_view data) = 0;

  // Sends `length` bytes of open file `fd` from `offset`, ideally with sendfile. Returns
  // false if this channel cannot, in which case the adapter reads and write()s instead.
  // The channel must not close `fd`; it may dup() it if it needs it after returning.
  virtual bool send_file(int fd, std::uint64_t offset, std::uint64_t length) = 0;
  // True when send_file() would only queue the file (a duplicate of its descriptor) to
  // go out with what follows, with no system call that can wait: the adapter keeps the GIL.
  virtual bool buffers_file() const { return false; }

  // True when start_response() / write() of `bytes` bytes would only append to this
  // channel's memory, with no system call and no wait: the adapter then keeps the GIL across
  // the call. Every GIL release is a chance to hand the GIL to another request thread (a
  // futex wake and a context switch each way), and a small list response is exactly one
  // start_response plus one write.
  virtual bool buffers_headers() const { return false; }
  virtual bool buffers_write(std::size_t bytes) const {
    (void)bytes;
    return false;
  }

  // Pushes what was written so far towards the client (used after each iterable item
  // unless the server buffers on purpose).
  virtual void flush() = 0;

  // write(data) then flush(), as one operation where the channel can do better than two:
  // a generator's every block takes this path.
  virtual void write_flushed(std::string_view data) {
    write(data);
    flush();
  }

  // wsgi.errors and request-scoped diagnostics: lands in the error log, tagged with the
  // request (client address) like Apache's own request log lines.
  virtual void log(Level level, std::string_view message) = 0;
};

}  // namespace gantry
