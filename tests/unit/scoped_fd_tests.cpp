// ScopedFd: ownership of a descriptor moves, is released, and ends in exactly one close().
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "gantry/scoped_fd.hpp"

using gantry::ScopedFd;

namespace {

bool is_open(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

int open_null() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  return fd;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scoped_fd)

BOOST_AUTO_TEST_CASE(closes_at_end_of_scope) {
  int raw;
  {
    ScopedFd fd(open_null());
    raw = fd.get();
    BOOST_TEST(is_open(raw));
    BOOST_TEST(fd.valid());
  }
  BOOST_TEST(!is_open(raw));
}

BOOST_AUTO_TEST_CASE(default_holds_nothing) {
  ScopedFd fd;
  BOOST_TEST(fd.get() == -1);
  BOOST_TEST(!fd);
  BOOST_TEST(fd.release() == -1);
}

BOOST_AUTO_TEST_CASE(move_construction_transfers_ownership) {
  ScopedFd a(open_null());
  const int raw = a.get();
  ScopedFd b(std::move(a));
  BOOST_TEST(a.get() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  BOOST_TEST(b.get() == raw);
  a.reset();  // closing the empty one must not touch b's descriptor
  BOOST_TEST(is_open(raw));
  b.reset();
  BOOST_TEST(!is_open(raw));
}

BOOST_AUTO_TEST_CASE(move_assignment_closes_the_target_first) {
  ScopedFd a(open_null());
  ScopedFd b(open_null());
  const int raw_a = a.get();
  const int raw_b = b.get();
  b = std::move(a);
  BOOST_TEST(!is_open(raw_b));
  BOOST_TEST(b.get() == raw_a);
  BOOST_TEST(is_open(raw_a));
  BOOST_TEST(a.get() == -1);  // NOLINT(bugprone-use-after-move)
}

BOOST_AUTO_TEST_CASE(self_move_assignment_keeps_the_descriptor) {
  ScopedFd a(open_null());
  const int raw = a.get();
  ScopedFd& alias = a;
  a = std::move(alias);
  BOOST_TEST(a.get() == raw);
  BOOST_TEST(is_open(raw));
}

BOOST_AUTO_TEST_CASE(release_gives_up_ownership) {
  int raw;
  {
    ScopedFd fd(open_null());
    raw = fd.release();
    BOOST_TEST(fd.get() == -1);
  }
  BOOST_TEST(is_open(raw));
  ::close(raw);
}

BOOST_AUTO_TEST_CASE(reset_closes_the_old_and_takes_the_new) {
  ScopedFd fd(open_null());
  const int first = fd.get();
  const int second = open_null();
  fd.reset(second);
  BOOST_TEST(!is_open(first));
  BOOST_TEST(fd.get() == second);
  fd.reset(second);  // the same number again: not closed under itself
  BOOST_TEST(is_open(second));
}

BOOST_AUTO_TEST_CASE(lives_in_a_vector_that_reallocates) {
  std::vector<int> raws;
  {
    std::vector<ScopedFd> fds;
    for (int i = 0; i < 20; ++i) {  // several reallocations move the elements
      fds.emplace_back(open_null());
      raws.push_back(fds.back().get());
    }
    for (int raw : raws) BOOST_TEST(is_open(raw));
  }
  for (int raw : raws) BOOST_TEST(!is_open(raw));
}

BOOST_AUTO_TEST_CASE(make_pipe_owns_both_ends) {
  int read_end, write_end;
  {
    gantry::ScopedFdPair pipe = gantry::make_pipe(O_CLOEXEC);
    BOOST_REQUIRE(static_cast<bool>(pipe));
    read_end = pipe.first.get();
    write_end = pipe.second.get();
    BOOST_TEST((::fcntl(read_end, F_GETFD) & FD_CLOEXEC) != 0);
    char byte = 'x';
    BOOST_TEST(::write(write_end, &byte, 1) == 1);  // first reads what second writes
    byte = 0;
    BOOST_TEST(::read(read_end, &byte, 1) == 1);
    BOOST_TEST(byte == 'x');
  }
  BOOST_TEST(!is_open(read_end));
  BOOST_TEST(!is_open(write_end));
}

BOOST_AUTO_TEST_CASE(make_socket_pair_owns_both_ends) {
  int a, b;
  {
    gantry::ScopedFdPair pair = gantry::make_socket_pair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
    BOOST_REQUIRE(static_cast<bool>(pair));
    a = pair.first.get();
    b = pair.second.get();
    BOOST_TEST(a != b);
    ScopedFd kept(pair.second.release());  // one end handed on: the other still closes
    BOOST_TEST(!pair.second.valid());
    pair.first.reset();
    BOOST_TEST(!is_open(a));
    BOOST_TEST(is_open(b));
  }
  BOOST_TEST(!is_open(b));
}

BOOST_AUTO_TEST_CASE(failed_pair_is_empty) {
  const gantry::ScopedFdPair pair = gantry::make_socket_pair(-1, SOCK_STREAM);  // no such family
  BOOST_TEST(!pair);
  BOOST_TEST(!pair.first.valid());
  BOOST_TEST(!pair.second.valid());
}

BOOST_AUTO_TEST_CASE(close_held_closes_once) {
  int fd = open_null();
  const int raw = fd;
  gantry::close_held(fd);
  BOOST_TEST(fd == -1);
  BOOST_TEST(!is_open(raw));
  const int other = open_null();  // likely the same number: a second call must not touch it
  gantry::close_held(fd);
  BOOST_TEST(is_open(other));
  ::close(other);
}

BOOST_AUTO_TEST_SUITE_END()
