#pragma once
// Daemon mode in Apache's parent: for every WSGIDaemonProcess group, the listening UNIX
// socket, the per-generation secret, the status table, and `processes` forked daemon
// processes that are replaced when they die (with a back-off when they crash-loop),
// drained on a graceful restart and stopped with Apache.
//
// Lifecycle, and why each step is where it is:
//   check_config  resolves users/groups/socket prefix, so `apachectl -t` reports them.
//                 Forks nothing (a -t run never reaches post_config).
//   post_config   first pass (Apache's config dry-run): nothing. Real pass: sockets,
//                 table, secret, forks - before the MPM forks its children, which
//                 inherit the table and secret.
//   child_init    an Apache child closes the listening sockets (only daemons accept).
//   monitor       (every ~10 s in the parent) SIGKILLs drained processes of an old
//                 generation that outlived their shutdown-timeout.
//   pconf cleanup graceful restart: old processes get SIGHUP (serve the last requests, drain) and are handed to
//                 the next generation, which reaps them and removes their socket when the
//                 last one is gone, so an old Apache child finishing a request never
//                 finds its socket missing. Stop: SIGTERM, SIGKILL after shutdown-timeout.
//
// Apache unloads and reloads mod_gantry.so on every restart, so what must outlive a
// generation (old processes, their socket paths, their status table) is kept as plain
// data in the process pool - never code pointers, never C++ objects with destructors.
//
// Where each part lives: the policy (slots, standbys, back-off, retirement, stop) is
// core/supervisor_policy.cpp, unit-tested without Apache; this module's glue is
// daemon_supervisor.cpp (hooks, launches, log lines), daemon_exit_watch.cpp (SIGCHLD),
// daemon_retirement.cpp (old generations), daemon_socket.cpp (listening sockets). Shared
// memory and who may write it: docs/shared-memory.md.
#include <httpd.h>

#include "config.hpp"

namespace gantry::module {

// check_config hook body: OK, or an error already logged (Apache then refuses to start).
int check_daemon_groups(apr_pool_t* pconf, server_rec* s, const GlobalConfig& global);

// post_config hook body: OK, or an error already logged.
int start_daemon_groups(apr_pool_t* pconf, apr_pool_t* ptemp, server_rec* s,
                        const GlobalConfig& global);

// child_init hook body (Apache children).
void daemon_child_init(apr_pool_t* pchild, server_rec* s);

// monitor hook body (parent, periodic).
void daemon_monitor(server_rec* s);

}  // namespace gantry::module
