#include "signal_relay.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "gantry/scoped_fd.hpp"

namespace gantry::daemon::signal_relay {
namespace {

// Set once by install(), before any other thread exists; read by the handler.
pid_t owner = 0;          // the daemon process; a fork of it has another pid
int write_fd = -1;        // non-blocking: a full pipe (thousands of signals unread) drops one
int read_fd = -1;
std::vector<int> relayed;

void relay(int sig) {
  const int saved = errno;
  if (getpid() != owner) {
    // A fork of the daemon: the default action, once this handler returns.
    signal(sig, SIG_DFL);
    raise(sig);
  } else {
    const unsigned char number = static_cast<unsigned char>(sig);
    (void)!write(write_fd, &number, 1);
  }
  errno = saved;
}

}  // namespace

void install(std::initializer_list<int> signals) {
  if (owner) return;
  ScopedFdPair pipe = make_pipe(O_CLOEXEC);
  if (!pipe) throw std::system_error(errno, std::generic_category(), "pipe2");
  if (fcntl(pipe.second.get(), F_SETFL, O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "fcntl");
  // Kept for the life of the process as plain ints: the signal handler writes to one.
  read_fd = pipe.first.release();
  write_fd = pipe.second.release();
  owner = getpid();
  struct sigaction action{};
  action.sa_handler = &relay;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int sig : signals) {
    if (sigaction(sig, &action, nullptr) != 0) throw std::system_error(errno, std::generic_category(), "sigaction");
    relayed.push_back(sig);
  }
}

int next() {
  for (;;) {
    unsigned char number = 0;
    const ssize_t n = read(read_fd, &number, 1);
    if (n == 1) return number;
    if (n == 0 || errno != EINTR) return 0;  // cannot happen: this process holds the write end
  }
}

void uninstall() {
  for (int sig : relayed) signal(sig, SIG_DFL);
}

}  // namespace gantry::daemon::signal_relay
