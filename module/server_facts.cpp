#include "server_facts.hpp"

#include <ap_mpm.h>
#include <apr_time.h>
#include <http_config.h>
#include <httpd.h>
#include <scoreboard.h>

#include <cstring>
#include <string>

#include "request_environ.hpp"

namespace gantry::module {
namespace {

double seconds(apr_time_t t) { return static_cast<double>(t) / APR_USEC_PER_SEC; }

int mpm_query(int what, int fallback) {
  int value = 0;
  return ap_mpm_query(what, &value) == APR_SUCCESS && value > 0 ? value : fallback;
}

// mod_status's letters for the worker states.
char status_letter(unsigned char status) {
  switch (status) {
    case SERVER_DEAD: return '.';
    case SERVER_READY: return '_';
    case SERVER_STARTING: return 'S';
    case SERVER_BUSY_READ: return 'R';
    case SERVER_BUSY_WRITE: return 'W';
    case SERVER_BUSY_KEEPALIVE: return 'K';
    case SERVER_BUSY_LOG: return 'L';
    case SERVER_BUSY_DNS: return 'D';
    case SERVER_CLOSING: return 'C';
    case SERVER_GRACEFUL: return 'G';
    case SERVER_IDLE_KILL: return 'I';
    default: return '?';
  }
}

std::string bounded(const char* text, std::size_t size) { return std::string(text, strnlen(text, size)); }

// server_metrics() in an Apache child: a copy of the scoreboard, slot by slot.
bool read_scoreboard(Scoreboard& out) {
  if (!ap_exists_scoreboard_image()) return false;
  const global_score* global = ap_get_scoreboard_global();
  if (!global) return false;
  out.server_limit = global->server_limit;
  out.thread_limit = global->thread_limit;
  out.running_generation = global->running_generation;
  out.restart_time = seconds(global->restart_time);
  out.processes.reserve(static_cast<std::size_t>(out.server_limit));
  for (int i = 0; i < out.server_limit; ++i) {
    const process_score* ps = ap_get_scoreboard_process(i);
    ScoreboardProcess p;
    p.process_num = i;
    p.pid = ps ? ps->pid : 0;
    p.generation = ps ? ps->generation : 0;
    p.quiescing = ps && ps->quiescing;
    p.workers.reserve(static_cast<std::size_t>(out.thread_limit));
    for (int j = 0; j < out.thread_limit; ++j) {
      worker_score ws;
      ap_copy_scoreboard_worker(&ws, i, j);  // a consistent copy of a slot others write
      ScoreboardWorker w;
      w.thread_num = ws.thread_num;
      w.generation = ws.generation;
      w.status = status_letter(ws.status);
      w.access_count = ws.access_count;
      w.bytes_served = static_cast<std::uint64_t>(ws.bytes_served);
      w.start_time = seconds(ws.start_time);
      w.stop_time = seconds(ws.stop_time);
      w.last_used = seconds(ws.last_used);
      w.client = bounded(ws.client64, sizeof ws.client64);
      w.request = bounded(ws.request, sizeof ws.request);
      w.vhost = bounded(ws.vhost, sizeof ws.vhost);
      p.workers.push_back(std::move(w));
    }
    out.processes.push_back(std::move(p));
  }
  return true;
}

}  // namespace

ServerFacts embedded_server_facts() {
  ServerFacts facts;
  facts.apache_version = apache_version();
  const char* description = ap_get_server_description();
  facts.description = description ? description : "";
  const char* built = ap_get_server_built();
  facts.build_date = built ? built : "";
  const char* mpm = ap_show_mpm();
  facts.mpm_name = mpm ? mpm : "";
  int threaded = AP_MPMQ_NOT_SUPPORTED;
  if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS && threaded != AP_MPMQ_NOT_SUPPORTED)
    facts.mpm_threads = mpm_query(AP_MPMQ_MAX_THREADS, 1);
  facts.mpm_processes = mpm_query(AP_MPMQ_MAX_DAEMONS, 1);
  facts.maximum_processes = facts.mpm_processes;
  facts.threads_per_process = facts.mpm_threads;
  facts.read_scoreboard = &read_scoreboard;
  return facts;
}

ServerFacts daemon_server_facts(const ServerFacts& embedded, int processes, int threads) {
  ServerFacts facts = embedded;
  facts.maximum_processes = processes;
  facts.threads_per_process = threads;
  facts.read_scoreboard = nullptr;
  return facts;
}

}  // namespace gantry::module
