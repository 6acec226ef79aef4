#include "fork_guard.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <system_error>

namespace gantry::daemon::fork_guard {
namespace {

// Set once by install(), before any request thread exists; read by the at-fork handler.
Logger* log_sink = nullptr;
std::string group_name;
pid_t owner = 0;              // the daemon process that installed the guard
int inert_fd = -1;            // dup3()ed over each guarded descriptor in a fork (see install)
std::atomic<int>* slots = nullptr;  // guarded descriptors; -1 = free
unsigned slot_count = 0;
std::atomic<bool> forked{false};

// Runs in the child of every fork(), on the forking thread, before fork() returns there.
void in_child() noexcept {
  forked.store(true, std::memory_order_relaxed);
  for (unsigned i = 0; i < slot_count; ++i) {
    const int fd = slots[i].load(std::memory_order_relaxed);
    if (fd >= 0) dup3(inert_fd, fd, O_CLOEXEC);
  }
}

}  // namespace

void install(Logger* logger, const std::string& group, unsigned capacity) {
  if (owner) return;
  // The read end of a pipe whose write end is closed: reads see end of file, writes and
  // socket calls fail at once. Needs no file system (chroot= may have no /dev/null).
  ScopedFdPair pipe = make_pipe(O_CLOEXEC);
  if (!pipe) throw std::system_error(errno, std::generic_category(), "pipe2");
  // Kept for the life of the process as a plain int: the at-fork handler may use it until
  // the very end. The write end closes here.
  inert_fd = pipe.first.release();
  // Never freed: the handler may run until the process exits.
  slots = new std::atomic<int>[capacity];
  for (unsigned i = 0; i < capacity; ++i) slots[i].store(-1, std::memory_order_relaxed);
  slot_count = capacity;
  log_sink = logger;
  group_name = group;
  owner = getpid();
  if (const int rc = pthread_atfork(nullptr, nullptr, &in_child); rc != 0)
    throw std::system_error(rc, std::generic_category(), "pthread_atfork");
}

void guard(int fd) noexcept {
  if (fd < 0) return;
  for (unsigned i = 0; i < slot_count; ++i) {
    int expected = -1;
    if (slots[i].compare_exchange_strong(expected, fd, std::memory_order_relaxed)) return;
  }
}

void unguard(int fd) noexcept {
  if (fd < 0) return;
  for (unsigned i = 0; i < slot_count; ++i) {
    int expected = fd;
    if (slots[i].compare_exchange_strong(expected, -1, std::memory_order_relaxed)) return;
  }
}

bool in_fork() noexcept { return forked.load(std::memory_order_relaxed); }

void leave_if_fork(const char* where) noexcept {
  if (!in_fork()) return;
  if (log_sink) {
    try {
      log_sink->log(Level::warning,
                    "GANTRY0503: a process forked by the application in daemon group '" + group_name +
                        "' (pid " + std::to_string(getpid()) + ", forked from pid " + std::to_string(owner) +
                        ") came back to " + where +
                        "; it exits now without serving: a forked child must end with os._exit()"
                        " or exec() (subprocess, multiprocessing do)");
    } catch (...) {
    }
  }
  _exit(0);
}

}  // namespace gantry::daemon::fork_guard
