// FrameReader with accept_fds (the Apache child's reader of daemon frames): a peer may pass
// one descriptor per message, at most FrameReader::kMaxPendingFds waiting at a time; more
// is a ProtocolError(unexpected_descriptor), and no descriptor it sent stays open.
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gantry/frame_io.hpp"
#include "gantry/protocol.hpp"
#include "gantry/scoped_fd.hpp"
#include "protocol_error_kind.hpp"

namespace p = gantry::protocol;
using gantry::ScopedFd;

namespace {

int open_descriptors() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++count;
    closedir(dir);
  }
  return count;
}

struct Pair {
  ScopedFd reader_end, peer;
  Pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    reader_end.reset(fds[0]);
    peer.reset(fds[1]);
  }
};

// Sends `bytes` with `count` duplicates of /dev/null attached (SCM_RIGHTS).
void send_with_fds(int fd, const std::string& bytes, int count) {
  const ScopedFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<int> fds(static_cast<std::size_t>(count), null_fd.get());
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (count > 0) {
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  BOOST_REQUIRE(::sendmsg(fd, &message, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

std::string log_frame() {
  std::string out;
  p::append_log(out, gantry::Level::debug, "x");
  return out;
}

// Reads frames until the reader throws; returns how many it read.
int read_until_refused(p::FrameReader& reader, p::ProtocolError::Kind& kind) {
  int frames = 0;
  try {
    while (reader.try_read().status == p::FrameReader::Status::frame) ++frames;
  } catch (const p::ProtocolError& e) {
    kind = e.kind();
    return frames;
  }
  BOOST_FAIL("the reader took every descriptor");
  return frames;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_reader_descriptors)

BOOST_AUTO_TEST_CASE(a_file_frame_takes_its_descriptor) {
  Pair pair;
  std::string file;
  p::append_file(file, 0, 10);
  send_with_fds(pair.peer.get(), file, 1);
  p::FrameReader reader(pair.reader_end.get(), /*accept_fds=*/true);
  const auto result = reader.try_read();
  BOOST_TEST((result.status == p::FrameReader::Status::frame));
  BOOST_TEST(reader.pending_fds() == 1u);
  ScopedFd taken = reader.take_fd();
  BOOST_TEST(taken.valid());
  BOOST_TEST(reader.pending_fds() == 0u);
  BOOST_TEST(!reader.take_fd().valid());
}

BOOST_AUTO_TEST_CASE(descriptors_one_per_message_beyond_the_limit_are_refused_and_closed) {
  const int before = open_descriptors();
  {
    Pair pair;
    for (int i = 0; i < 50; ++i) send_with_fds(pair.peer.get(), log_frame(), 1);
    p::FrameReader reader(pair.reader_end.get(), /*accept_fds=*/true);
    auto kind = p::ProtocolError::Kind::malformed;
    read_until_refused(reader, kind);
    BOOST_TEST((kind == p::ProtocolError::Kind::unexpected_descriptor));
    BOOST_TEST(reader.pending_fds() <= p::FrameReader::kMaxPendingFds);
    reader.discard_fds();
    BOOST_TEST(reader.pending_fds() == 0u);
  }
  BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_CASE(many_descriptors_in_one_message_are_refused_and_none_kept) {
  const int before = open_descriptors();
  {
    Pair pair;
    send_with_fds(pair.peer.get(), log_frame(), 100);
    p::FrameReader reader(pair.reader_end.get(), /*accept_fds=*/true);
    auto kind = p::ProtocolError::Kind::malformed;
    read_until_refused(reader, kind);
    BOOST_TEST((kind == p::ProtocolError::Kind::unexpected_descriptor));
    BOOST_TEST(reader.pending_fds() == 0u);
  }
  BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_CASE(a_reader_without_accept_fds_keeps_none) {
  const int before = open_descriptors();
  {
    Pair pair;
    for (int i = 0; i < 20; ++i) send_with_fds(pair.peer.get(), log_frame(), 3);
    p::FrameReader reader(pair.reader_end.get());
    int frames = 0;
    while (reader.try_read().status == p::FrameReader::Status::frame) ++frames;
    BOOST_TEST(frames == 20);
    BOOST_TEST(open_descriptors() == before + 2);  // the pair itself
  }
  BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_SUITE_END()
