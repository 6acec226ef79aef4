#pragma once
// What the Python side tells applications about the server that runs them: the `apache`
// module, mod_wsgi.maximum_processes / threads_per_process, and the Apache scoreboard behind
// mod_wsgi.server_metrics(). The module side (which sees httpd) fills these in; the Python
// side (which does not) only reads them. Plain data, so it crosses to daemon processes in
// PythonSettings like everything else there.
#include <cstdint>
#include <string>
#include <vector>

namespace gantry {

// One worker slot of the Apache scoreboard (mod_status's view), as mod_wsgi 4.9.4 reports it.
struct ScoreboardWorker {
  int thread_num = 0;
  int generation = 0;
  char status = '.';            // mod_status's letter: '_' waiting, 'R' reading, 'W' writing...
  std::uint64_t access_count = 0;
  std::uint64_t bytes_served = 0;
  double start_time = 0, stop_time = 0, last_used = 0;  // seconds since the epoch
  std::string client, request, vhost;
};

struct ScoreboardProcess {
  int process_num = 0;
  int pid = 0;                  // 0: slot unused
  int generation = 0;
  bool quiescing = false;
  std::vector<ScoreboardWorker> workers;
};

struct Scoreboard {
  int server_limit = 0, thread_limit = 0;
  int running_generation = 0;
  double restart_time = 0;      // seconds since the epoch
  std::vector<ScoreboardProcess> processes;
};

// Fills `out` from the live scoreboard; false when this process has none (a daemon process).
using ScoreboardReader = bool (*)(Scoreboard& out);

struct ServerFacts {
  std::string apache_version;   // running httpd, "2.4.62" (as environ's apache.version)
  std::string description;      // ap_get_server_description(): "Apache/2.4.62 (Debian) ..."
  std::string build_date;       // ap_get_server_built()
  std::string mpm_name;         // "event", "worker", "prefork"
  int mpm_processes = 1;        // the MPM's most processes (AP_MPMQ_MAX_DAEMONS)
  int mpm_threads = 1;          // the MPM's threads per process (1 when not threaded)
  // The group this process serves: the daemon group's processes=/threads= in a daemon
  // process, the MPM's figures in an Apache child.
  int maximum_processes = 1;
  int threads_per_process = 1;
  ScoreboardReader read_scoreboard = nullptr;  // null: server_metrics() gives None
};

}  // namespace gantry
