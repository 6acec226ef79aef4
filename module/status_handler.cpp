// `SetHandler gantry-status`: the daemon groups at a glance (docs/status-page.md). Runs in
// an Apache child and reads only shared memory and the kernel: the status scoreboards
// (status_boards.hpp, validated by scoreboard_reader.hpp), the parent's status table
// (restarts, last exit) and the listening sockets' backlogs (sock_diag). It never talks to a
// daemon process, so a busy or stuck daemon neither delays the page nor pays for it.
//
// Access is Apache's own (Require); only GET and HEAD are served. ?json and ?prometheus
// choose the format; anything else is the HTML page.
#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <sys/stat.h>

#include <apr_time.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "daemon_runtime.hpp"
#include "gantry/status_page.hpp"
#include "gantry/unix_backlog.hpp"
#include "gantry_hooks.h"
#include "guard.hpp"
#include "status_boards.hpp"

namespace gantry::module {
namespace {

constexpr const char* kHandlerName = "gantry-status";

enum class Format { html, json, prometheus };

// "?json", "?prometheus" (also as one of several &-separated words, with or without "=...").
Format requested_format(const char* args) {
  std::string_view rest = args ? args : "";
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    std::string_view word = rest.substr(0, amp);
    word = word.substr(0, word.find('='));
    if (word == "json") return Format::json;
    if (word == "prometheus") return Format::prometheus;
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return Format::html;
}

// The pid is a live process whose parent is Apache's: a board cannot make the page show a
// process that is gone, nor one that is not a daemon of this server.
bool is_our_daemon(pid_t pid, pid_t apache_parent) {
  if (pid <= 0) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", static_cast<long>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return false;
  char buf[512];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');  // the command name may hold anything
  if (!close_paren) return false;
  char state = 0;
  long ppid = 0;
  if (std::sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2) return false;
  return state != 'Z' && ppid == static_cast<long>(apache_parent);
}

// The group's template as the parent last published it (the parent reads its memory: an
// Apache child may not read a process of another user), if it still runs.
std::optional<status::Template> read_template(const DaemonGeneration& generation, const DaemonGroupRuntime& g,
                                              std::int64_t now_us) {
  const std::size_t index = static_cast<std::size_t>(&g - generation.groups.data());
  if (!generation.table || index >= generation.table->groups()) return std::nullopt;
  const TemplateSnapshot snap = generation.table->template_of(index).read();
  if (!is_our_daemon(snap.pid, generation.parent_pid)) return std::nullopt;
  status::Template t;
  t.pid = snap.pid;
  t.state = snap.ready ? "ready" : "starting";
  t.uptime_seconds = static_cast<double>(now_us - snap.started_us) / 1e6;
  t.rss = snap.memory.rss;
  t.pss = snap.memory.pss;
  t.uss = snap.memory.uss;
  return t;
}

status::Group read_group(const DaemonGeneration& generation, const DaemonGroupRuntime& g,
                         const std::optional<std::map<std::uint64_t, UnixBacklog>>& backlogs,
                         std::vector<status::GrowthRow>& growth, std::int64_t now_us) {
  status::Group group;
  group.name = g.name();
  group.processes_configured = g.processes;
  group.threads = static_cast<unsigned>(g.options().threads);
  group.queue.backlog_limit = static_cast<std::uint32_t>(g.options().listen_backlog);
  struct stat st{};
  if (backlogs && stat(g.socket_path.c_str(), &st) == 0) {
    if (auto it = backlogs->find(static_cast<std::uint64_t>(st.st_ino)); it != backlogs->end()) {
      group.queue.waiting = it->second.queued;
      group.queue.backlog_limit = it->second.limit;
    }
  }
  group.template_process = read_template(generation, g, now_us);
  for (unsigned i = 0; i < g.processes; ++i) {
    const std::size_t slot = g.first_slot + i;
    SlotSnapshot snap;
    if (generation.table && slot < generation.table->size()) snap = generation.table->slot(slot).read();
    group.restarts += snap.restarts;
    const std::string last_exit = snap.last_exit.kind == ExitCause::Kind::none ? "" : snap.last_exit.describe();
    for (int cell = 0; cell < 2; ++cell) {
      const StatusBoardView view = status_board(slot, cell);
      if (!view.base) continue;
      const scoreboard::BoardReading board = scoreboard::read_board(view.base, view.bytes, now_us);
      const std::size_t before = group.processes.size();
      status::add_cell(group, growth, i, board, is_our_daemon(board.pid, generation.parent_pid), now_us);
      if (group.processes.size() > before) {
        group.processes.back().restarts = snap.restarts;
        group.processes.back().last_exit = last_exit;
      }
    }
  }
  return group;
}

status::StatusPage build_page() {
  status::StatusPage page;
  page.now_us = apr_time_now();
  page.server = ap_get_server_description();
  page.generation_started_us = status_boards_created_us();
  if (const DaemonGeneration* generation = daemon_generation()) {
    const auto backlogs = listening_unix_backlogs();
    for (const DaemonGroupRuntime& g : generation->groups)
      page.groups.push_back(read_group(*generation, g, backlogs, page.growth, page.now_us));
  }
  status::finish(page);
  return page;
}

int serve_status(request_rec* r) {
  // A 405 answer's Allow header comes from r->allowed_methods: "GET, HEAD" (and TRACE,
  // which Apache's core answers itself).
  r->allowed = AP_METHOD_BIT << M_GET;
  ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", nullptr);
  if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;  // HEAD is M_GET too
  const status::StatusPage page = build_page();
  std::string body;
  switch (requested_format(r->args)) {
    case Format::json:
      ap_set_content_type(r, "application/json");
      body = status::render_json(page);
      break;
    case Format::prometheus:
      ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
      body = status::render_prometheus(page);
      break;
    case Format::html:
      ap_set_content_type(r, "text/html; charset=utf-8");
      body = status::render_html(page);
      break;
  }
  apr_table_setn(r->headers_out, "Cache-Control", "no-store");
  apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
  // Nothing loads from elsewhere; a stray script in a URL shown on the page could not run.
  apr_table_setn(r->headers_out, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
  if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
  return OK;
}

}  // namespace
}  // namespace gantry::module

extern "C" int gantry_status_handler(request_rec* r) {
  if (!r->handler || std::strcmp(r->handler, gantry::module::kHandlerName) != 0) return DECLINED;
  return gantry::module::run_guarded(r->server, "gantry-status handler", static_cast<int>(HTTP_INTERNAL_SERVER_ERROR),
                                     [&] { return gantry::module::serve_status(r); });
}
