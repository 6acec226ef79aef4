#pragma once
// Moving protocol frames over a non-blocking AF_UNIX stream socket: FrameReader (one
// reusable receive buffer, views into it, received descriptors queued in order) and
// FrameWriter (small frames batched into one buffer, large payloads sent from the
// caller's memory, everything in as few sendmsg calls as the kernel allows). Both ends of
// the protocol (socket_channel.hpp, daemon_forwarder.hpp) are built on these two.
//
// Every recv/sendmsg is MSG_DONTWAIT, and waits go through poll() with a timeout, so the
// descriptor may be in blocking mode or not: no fcntl() round trips per request.
//
// Errors: ProtocolError for bytes that break the protocol; ChannelError(timeout) when a
// wait runs out; ChannelError(client_gone) when the peer hung up (EOF, EPIPE,
// ECONNRESET); ChannelError(internal) for any other socket error.
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gantry/protocol.hpp"
#include "gantry/scoped_fd.hpp"

namespace gantry::protocol {

// Waits until `fd` is readable (events = POLLIN) or writable (POLLOUT). False on timeout.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout);

class FrameReader {
 public:
  struct Frame {
    FrameHeader header;
    std::string_view payload;  // valid until the next read call on this reader
  };
  enum class Status { frame, would_block, closed };
  struct Result {
    Status status;
    Frame frame;
  };

  // `accept_fds`: receive SCM_RIGHTS descriptors (the forwarder, for FILE frames). The
  // peer is not trusted with them: at most one descriptor is taken in per receive (the
  // kernel closes any others of that message: MSG_CTRUNC, a ProtocolError), and at most
  // kMaxPendingFds wait for their FILE frames; one more is closed at once and is a
  // ProtocolError(unexpected_descriptor). Without `accept_fds` the kernel drops them all.
  explicit FrameReader(int fd, bool accept_fds = false);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // The next frame if it is buffered or arrives without waiting; `closed` when the peer
  // hung up cleanly between frames. A hang-up inside a frame is ProtocolError(truncated).
  // may_receive = false: only frames already buffered (saves a recv that poll() has
  // not announced and that would just say EAGAIN).
  Result try_read(bool may_receive = true);
  // Waits up to `timeout` for each piece of the next frame. Closed -> ChannelError
  // (client_gone); timeout -> ChannelError(timeout).
  Frame read(std::chrono::milliseconds timeout);

  // Consumes the next frame if it is already buffered, of `type` and empty (a FLUSH right
  // behind a DATA). Never receives or moves the buffer: the last frame's payload stays valid.
  bool skip_if_next(FrameType type);

  // A sender puts one descriptor on the message that carries its FILE frame, and the
  // reader parses every buffered frame before it receives again: when it receives, at most
  // the descriptor of the one frame still incomplete is waiting, so two may wait after it.
  static constexpr std::size_t kMaxPendingFds = 2;

  // The oldest received descriptor not yet taken (empty if none).
  ScopedFd take_fd();
  std::size_t pending_fds() const { return fds_.size(); }
  // Closes every received descriptor not yet taken (a request that failed holds none).
  void discard_fds() { fds_.clear(); }

  // Bytes that were received from this socket by someone else (the daemon reads HELLO
  // and whatever followed it in one recv): they are read before anything new.
  void preload(std::string_view bytes);

  std::size_t peak_buffer_bytes() const { return peak_; }

 private:
  void make_room(std::size_t needed);
  void resize(std::size_t size);  // keeps bytes [0, end_)
  long receive();  // bytes received, 0 on EOF, -1 would block

  int fd_;
  bool accept_fds_;
  // Allocated on first use and never zero-filled: one reader per request on both ends,
  // and clearing 64 KiB that recv() overwrites anyway cost ~3% of a small request.
  char* buffer_ = nullptr;  // size_ bytes; see allocate_buffer() in frame_io.cpp
  std::size_t size_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t peak_ = 0;
  std::deque<ScopedFd> fds_;
};

class FrameWriter {
 public:
  explicit FrameWriter(int fd);
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  // Small frames: `encode` appends complete frames to the batch string it is given
  // (the append_* functions of protocol.hpp). The bytes are copied once, here.
  template <class Encode>
  void append(Encode&& encode) {
    const std::size_t at = batch_.size();
    encode(batch_);
    add_owned(at, batch_.size() - at);
  }
  // A frame whose payload stays in the caller's memory until the queue is drained
  // (send_all/send_some returned true). This is how large writes avoid a copy.
  void append_borrowed(FrameType type, std::string_view payload);
  // `fd` travels (SCM_RIGHTS, duplicated by the kernel) with the next bytes sent; the
  // caller keeps its own descriptor. At most one may be pending.
  void attach_fd(int fd);

  bool empty() const { return next_ == segments_.size(); }
  std::size_t queued_bytes() const { return queued_; }

  // Sends without waiting; true when everything queued has gone out.
  bool send_some();
  // Sends everything, waiting for writability up to `timeout` each time it stalls.
  void send_all(std::chrono::milliseconds timeout);
  // Forgets everything queued (the peer stopped reading; nothing more can be delivered).
  void discard();

  std::size_t peak_buffer_bytes() const { return peak_; }

 private:
  struct Segment {
    const char* data;  // borrowed memory, or nullptr: bytes [offset, offset+size) of batch_
    std::size_t offset;
    std::size_t size;
  };
  void add_owned(std::size_t offset, std::size_t size);
  void reset_if_drained();

  int fd_;
  std::string batch_;
  std::vector<Segment> segments_;
  std::size_t next_ = 0;         // first segment not completely sent
  std::size_t next_offset_ = 0;  // bytes of it already sent
  std::size_t queued_ = 0;       // bytes not yet sent
  int pending_fd_ = -1;
  std::size_t peak_ = 0;
};

// A chunk-sized scratch buffer for one request, allocated on first use and never
// zero-filled. Large sizes are mapped rather than malloc()ed, for the reason given at
// allocate_buffer() in frame_io.cpp (per-thread malloc arenas keep freed memory resident).
class ChunkBuffer {
 public:
  ChunkBuffer() = default;
  ~ChunkBuffer();
  ChunkBuffer(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(const ChunkBuffer&) = delete;

  // The buffer, allocated with `size` bytes on the first call (later calls ignore `size`).
  char* get(std::size_t size);
  std::size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t allocated_ = 0;  // >= size_
};

}  // namespace gantry::protocol
