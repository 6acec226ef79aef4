// FrameReader / FrameWriter: protocol frames over a non-blocking AF_UNIX stream socket.
#include "gantry/frame_io.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>

namespace gantry::protocol {

namespace {

// The receive buffer starts small: a small request's frames (REQUEST, RESPONSE_START, a
// short DATA, END) fit in it. It grows to hold a full BODY/DATA chunk when a frame needs
// more, beyond that only for a larger control frame, and shrinks back to the chunk size
// once that is consumed.
constexpr std::size_t kSmallReadBuffer = 16 * 1024;
constexpr std::size_t kReadBuffer = kHeaderSize + kMaxChunk;
// Receive and chunk buffers come from two small process-wide pools (16 KiB and chunk-sized
// blocks, mapped with mmap() when a pool is empty) and go back to them. Why not malloc():
// an Apache child runs 64 or more threads, glibc gives threads their own malloc arenas, and
// each arena keeps up to its trim threshold (128 KiB) of freed memory resident: chunk-sized
// buffers from malloc left an Apache child ~3 MiB larger after a streaming load, and the
// 16 KiB receive buffer of every hello-world request ~1 MiB larger. Pooled, the blocks ever
// made number the requests that were in flight at once, not the threads that ran one.
// Why pools and not mmap()/munmap() each time: that doubled the Apache child's CPU on a
// streaming load (page faults and TLB shootdowns serialise on the address space of 64
// threads). Larger buffers (a huge control frame) are mapped and unmapped.
constexpr std::size_t kMapAtLeast = kSmallReadBuffer;

struct BufferPool {
  static constexpr std::size_t kCapacity = 32;
  std::mutex mutex;
  char* free[kCapacity] = {};
  std::size_t count = 0;
  const std::size_t keep;  // at most this many stay resident
  explicit BufferPool(std::size_t keep_at_most) : keep(keep_at_most) {}
};

// The pool for blocks of `size`, or nullptr for sizes that are not pooled.
BufferPool* pool_for(std::size_t size) {
  // Never destroyed: threads may still release buffers at exit.
  static BufferPool* small = new BufferPool(32);  // 32 x 16 KiB
  static BufferPool* chunk = new BufferPool(16);  // 16 x 64 KiB
  if (size == kSmallReadBuffer) return small;
  if (size == kReadBuffer) return chunk;
  return nullptr;
}

char* allocate_buffer(std::size_t size) {
  if (size < kMapAtLeast) return new char[size];  // default-initialised: no zero fill
  if (BufferPool* pool = pool_for(size)) {
    std::lock_guard lock(pool->mutex);
    if (pool->count > 0) return pool->free[--pool->count];
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(p);
}

void release_buffer(char* buffer, std::size_t size) noexcept {
  if (buffer == nullptr) return;
  if (size < kMapAtLeast) {
    delete[] buffer;
    return;
  }
  if (BufferPool* pool = pool_for(size)) {
    std::lock_guard lock(pool->mutex);
    if (pool->count < pool->keep) {
      pool->free[pool->count++] = buffer;
      return;
    }
  }
  ::munmap(buffer, size);
}

// A batch that grew past this (a huge RESPONSE_START) is released once it is sent.
constexpr std::size_t kKeepBatch = 256 * 1024;
// iovecs per sendmsg: the socket takes a few hundred KiB per call at most, so more
// entries would only be built and thrown away.
constexpr std::size_t kIovecsPerCall = 64;

ChannelError socket_error(const char* operation, int error) {
  if (error == EPIPE || error == ECONNRESET)
    return ChannelError(ChannelError::Kind::client_gone,
                        std::string("the peer closed the connection (") + operation + ": " +
                            std::strerror(error) + ")");
  return ChannelError(ChannelError::Kind::internal,
                      std::string(operation) + " on the daemon socket failed: " +
                          std::strerror(error));
}

}  // namespace

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd entry{fd, events, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int n = poll(&entry, 1, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT32_MAX)));
    if (n > 0) return true;  // includes POLLHUP/POLLERR: the next call reports them
    if (n == 0) return false;
    if (errno != EINTR) throw socket_error("poll", errno);
  }
}

// --- FrameReader ---------------------------------------------------------------------

FrameReader::FrameReader(int fd, bool accept_fds) : fd_(fd), accept_fds_(accept_fds) {}

FrameReader::~FrameReader() { release_buffer(buffer_, size_); }

ScopedFd FrameReader::take_fd() {
  if (fds_.empty()) return ScopedFd();
  ScopedFd fd = std::move(fds_.front());
  fds_.pop_front();
  return fd;
}

void FrameReader::resize(std::size_t size) {
  char* other = allocate_buffer(size);
  if (end_ > 0) std::memcpy(other, buffer_, end_);
  release_buffer(buffer_, size_);
  buffer_ = other;
  size_ = size;
  peak_ = std::max(peak_, size_);
}

void FrameReader::make_room(std::size_t needed) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (size_ > kReadBuffer && needed <= kReadBuffer) resize(kReadBuffer);
  }
  if (size_ == 0) resize(needed <= kSmallReadBuffer ? kSmallReadBuffer : std::max(needed, kReadBuffer));
  // Slide the unread bytes to the front when the next frame would not fit behind them,
  // or when so little room is left that the next recv would be a tiny one.
  const bool frame_does_not_fit = size_ - begin_ < needed;
  const bool tail_too_small = size_ - end_ < 4096;
  if (begin_ > 0 && (frame_does_not_fit || tail_too_small)) {
    std::memmove(buffer_, buffer_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Only reached with `needed` already checked against max_payload() by parse_header.
  if (size_ < needed) resize(std::max(needed, kReadBuffer));
}

void FrameReader::preload(std::string_view bytes) {
  if (bytes.empty()) return;
  make_room(end_ - begin_ + bytes.size());
  if (size_ - end_ < bytes.size()) resize(end_ + bytes.size());
  std::memcpy(buffer_ + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

long FrameReader::receive() {
  char* into = buffer_ + end_;
  const std::size_t room = size_ - end_;
  while (true) {
    ssize_t n;
    if (!accept_fds_) {
      n = ::recv(fd_, into, room, MSG_DONTWAIT);
    } else {
      iovec iov{into, room};
      // Room for exactly one descriptor: whatever else a message carries the kernel closes
      // (and says so with MSG_CTRUNC), so a peer cannot fill this process's table.
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr message{};
      message.msg_iov = &iov;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      n = ::recvmsg(fd_, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n >= 0) {
        ScopedFd received;
        bool foreign_control = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            foreign_control = true;
            continue;
          }
          const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (received) {
              ScopedFd extra(fd);  // cannot happen with room for one; closed here
            } else {
              received.reset(fd);
            }
          }
        }
        if ((message.msg_flags & MSG_CTRUNC) != 0 || foreign_control)
          throw ProtocolError(ProtocolError::Kind::unexpected_descriptor,
                              "the peer passed more than one file descriptor in one message "
                              "(a FILE frame carries exactly one)");
        if (received) {
          if (fds_.size() >= kMaxPendingFds)
            throw ProtocolError(ProtocolError::Kind::unexpected_descriptor,
                                "the peer passed a file descriptor while " +
                                    std::to_string(fds_.size()) +
                                    " were still waiting for their FILE frames");
          fds_.push_back(std::move(received));
        }
      }
    }
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    if (errno == ECONNRESET) return 0;  // a hang-up, like EOF
    throw socket_error("recv", errno);
  }
}

FrameReader::Result FrameReader::try_read(bool may_receive) {
  while (true) {
    const std::size_t available = end_ - begin_;
    if (available >= kHeaderSize) {
      const FrameHeader header = parse_header(buffer_ + begin_);
      const std::size_t total = kHeaderSize + header.length;
      if (available >= total) {
        Frame frame{header, std::string_view(buffer_ + begin_ + kHeaderSize, header.length)};
        begin_ += total;
        return {Status::frame, frame};
      }
      make_room(total);
    } else {
      make_room(kHeaderSize);
    }
    if (!may_receive) return {Status::would_block, {}};
    const long n = receive();
    if (n > 0) continue;
    if (n < 0) return {Status::would_block, {}};
    if (end_ == begin_) return {Status::closed, {}};
    std::string what = "the peer closed the connection in the middle of a frame (" +
                       std::to_string(end_ - begin_) + " bytes of it received";
    if (end_ - begin_ >= kHeaderSize)
      what += ", " + frame_name(static_cast<std::uint8_t>(buffer_[begin_])) + " of " +
              std::to_string(kHeaderSize + parse_header(buffer_ + begin_).length);
    throw ProtocolError(ProtocolError::Kind::truncated, what + ")");
  }
}

bool FrameReader::skip_if_next(FrameType type) {
  if (end_ - begin_ < kHeaderSize || static_cast<FrameType>(buffer_[begin_]) != type) return false;
  const FrameHeader header = parse_header(buffer_ + begin_);  // validates it, may throw
  if (header.length != 0) return false;
  begin_ += kHeaderSize;
  return true;
}

FrameReader::Frame FrameReader::read(std::chrono::milliseconds timeout) {
  while (true) {
    const Result result = try_read();
    if (result.status == Status::frame) return result.frame;
    if (result.status == Status::closed)
      throw ChannelError(ChannelError::Kind::client_gone, "the peer closed the connection");
    if (!wait_for(fd_, POLLIN, timeout))
      throw ChannelError(ChannelError::Kind::timeout,
                         "nothing received from the peer for " +
                             std::to_string(timeout.count()) + " ms");
  }
}

// --- FrameWriter ---------------------------------------------------------------------

FrameWriter::FrameWriter(int fd) : fd_(fd) {}

void FrameWriter::add_owned(std::size_t offset, std::size_t size) {
  if (size == 0) return;
  queued_ += size;
  if (segments_.size() > next_) {
    Segment& last = segments_.back();
    if (last.data == nullptr && last.offset + last.size == offset) {
      last.size += size;
      peak_ = std::max(peak_, batch_.capacity() + segments_.capacity() * sizeof(Segment));
      return;
    }
  }
  segments_.push_back({nullptr, offset, size});
  peak_ = std::max(peak_, batch_.capacity() + segments_.capacity() * sizeof(Segment));
}

void FrameWriter::append_borrowed(FrameType type, std::string_view payload) {
  const std::size_t at = batch_.size();
  batch_.resize(at + kHeaderSize);
  put_header(batch_.data() + at, type, static_cast<std::uint32_t>(payload.size()));
  add_owned(at, kHeaderSize);
  if (payload.empty()) return;
  segments_.push_back({payload.data(), 0, payload.size()});
  queued_ += payload.size();
  peak_ = std::max(peak_, batch_.capacity() + segments_.capacity() * sizeof(Segment));
}

void FrameWriter::attach_fd(int fd) {
  if (pending_fd_ >= 0)
    throw ChannelError(ChannelError::Kind::internal, "two file descriptors queued at once");
  pending_fd_ = fd;
}

void FrameWriter::reset_if_drained() {
  if (next_ != segments_.size()) return;
  segments_.clear();
  next_ = next_offset_ = 0;
  batch_.clear();
  if (batch_.capacity() > kKeepBatch) std::string().swap(batch_);
}

bool FrameWriter::send_some() {
  while (!empty()) {
    iovec iov[kIovecsPerCall];
    std::size_t count = 0;
    for (std::size_t i = next_; i < segments_.size() && count < kIovecsPerCall; ++i, ++count) {
      const Segment& s = segments_[i];
      const char* base = s.data != nullptr ? s.data : batch_.data() + s.offset;
      const std::size_t skip = i == next_ ? next_offset_ : 0;
      iov[count].iov_base = const_cast<char*>(base + skip);
      iov[count].iov_len = s.size - skip;
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = count;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (pending_fd_ >= 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pending_fd_, sizeof(int));
    }
    // MSG_NOSIGNAL: a peer that went away is an EPIPE to report, not a SIGPIPE to die of.
    const ssize_t sent = ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      throw socket_error("sendmsg", errno);
    }
    pending_fd_ = -1;  // it went with the first byte of this message
    std::size_t left = static_cast<std::size_t>(sent);
    queued_ -= left;
    while (left > 0) {
      const std::size_t rest = segments_[next_].size - next_offset_;
      if (left >= rest) {
        left -= rest;
        ++next_;
        next_offset_ = 0;
      } else {
        next_offset_ += left;
        left = 0;
      }
    }
  }
  reset_if_drained();
  return true;
}

void FrameWriter::send_all(std::chrono::milliseconds timeout) {
  while (!send_some()) {
    if (!wait_for(fd_, POLLOUT, timeout))
      throw ChannelError(ChannelError::Kind::timeout,
                         "the peer took nothing for " + std::to_string(timeout.count()) + " ms");
  }
}

void FrameWriter::discard() {
  next_ = segments_.size();
  next_offset_ = 0;
  queued_ = 0;
  pending_fd_ = -1;
  reset_if_drained();
}

// --- ChunkBuffer ---------------------------------------------------------------------

ChunkBuffer::~ChunkBuffer() { release_buffer(data_, allocated_); }

char* ChunkBuffer::get(std::size_t size) {
  if (data_ == nullptr) {
    // A chunk-sized request takes a pooled receive-buffer-sized block (a few bytes more).
    allocated_ = size >= kMapAtLeast && size <= kReadBuffer ? kReadBuffer : size;
    data_ = allocate_buffer(allocated_);
    size_ = size;
  }
  return data_;
}

}  // namespace gantry::protocol
