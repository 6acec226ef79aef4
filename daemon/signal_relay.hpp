#pragma once
// How a daemon process receives the signals it acts on (SIGTERM, SIGUSR1, SIGINT, the retire
// signal, SIGXCPU) without keeping them blocked in any thread.
//
// Why not "block them in every thread and sigwait() in one": a thread's blocked mask is
// inherited by every process it starts, across exec. Request threads run the application,
// so everything the application started (subprocess - whose vfork() path runs no
// pthread_atfork handler -, os.system, os.posix_spawn) began with SIGTERM and the others
// blocked: Popen.terminate() did nothing, a helper it started could not be stopped. A plain
// python3 process and mod_wsgi's daemon processes block nothing.
//
// So nothing is blocked. Each signal gets a handler that only writes the signal's number to
// a pipe (one async-signal-safe write()); the daemon's signal thread reads the pipe with
// next() and turns the numbers into lifecycle events outside signal context. A signal that
// comes before that thread starts waits in the pipe. exec() resets caught signals to
// SIG_DFL, so the application's children start with default actions. The kernel hands a
// process-directed signal to the main thread first (it waits on a condition variable; the
// handler is SA_RESTART), so request threads are seldom interrupted; when one is, its
// system call restarts or is retried on EINTR (Gantry's I/O loops, Python's PEP 475).
//
// In a process forked from the daemon (os.fork, multiprocessing's fork workers) the handler
// sees another pid: it restores the default action and raises the signal again, so such a
// child ends on SIGTERM like any process (multiprocessing's Pool.terminate() relies on it)
// and never speaks into its parent's pipe.
//
//   signal_relay::install({SIGTERM, SIGUSR1});  // once, before any thread exists
//   ... on the signal thread:  for (;;) act_on(signal_relay::next());
#include <initializer_list>

namespace gantry::daemon::signal_relay {

// Creates the pipe and installs the handlers. Throws std::system_error when it cannot.
void install(std::initializer_list<int> signals);

// Waits for the next signal and returns its number; 0 if the pipe failed (it cannot: the
// process holds both ends), after which uninstall() is the way out.
int next();

// Gives the signals back their default action (the process cannot act on them any more).
void uninstall();

}  // namespace gantry::daemon::signal_relay
