// The gantry-status page for people: one self-contained HTML document (inline CSS and SVG,
// no scripts, no fonts or images from anywhere). Each number sits in an element with a class
// (and the process's data-pid) so a test can read the DOM back and compare it with ?json.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "gantry/status_page.hpp"

namespace gantry::status {
namespace {

std::string esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string mib(std::uint64_t bytes) {
  if (!bytes) return "&ndash;";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f&nbsp;MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::string duration(double seconds) {
  char buf[32];
  if (seconds < 60) std::snprintf(buf, sizeof buf, "%.1f&nbsp;s", seconds);
  else if (seconds < 3600) std::snprintf(buf, sizeof buf, "%.0f&nbsp;min", seconds / 60);
  else if (seconds < 86400) std::snprintf(buf, sizeof buf, "%.1f&nbsp;h", seconds / 3600);
  else std::snprintf(buf, sizeof buf, "%.1f&nbsp;d", seconds / 86400);
  return buf;
}

std::string clock_time(std::int64_t us) { return format_utc(us, "%Y-%m-%d %H:%M:%S UTC"); }

// A sparkline of RSS over the last kSamples * kSampleSeconds, scaled to its own range.
std::string rss_chart(const Process& p, std::int64_t now_us) {
  constexpr int kWidth = 180, kHeight = 36;
  const double span_us = static_cast<double>(scoreboard::kSamples * scoreboard::kSampleSeconds) * 1e6;
  std::string svg = "<svg class=\"rss-chart\" width=\"" + std::to_string(kWidth) + "\" height=\"" +
                    std::to_string(kHeight) + "\" viewBox=\"0 0 " + std::to_string(kWidth) + " " +
                    std::to_string(kHeight) + "\" role=\"img\">";
  if (p.rss_history.size() < 2) {
    return svg + "<title>no samples yet</title><text x=\"4\" y=\"22\" class=\"none\">no samples yet</text></svg>";
  }
  std::uint64_t lo = p.rss_history.front().rss, hi = lo;
  for (const auto& s : p.rss_history) lo = std::min(lo, s.rss), hi = std::max(hi, s.rss);
  const double range = hi > lo ? static_cast<double>(hi - lo) : 1.0;
  std::string points;
  for (const auto& s : p.rss_history) {
    const double x = kWidth - std::min(span_us, static_cast<double>(now_us - s.at_us)) / span_us * kWidth;
    const double y = kHeight - 3 - (static_cast<double>(s.rss - lo) / range) * (kHeight - 6);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x, y);
    points += buf;
  }
  char title[96];
  std::snprintf(title, sizeof title, "RSS over the last %u min: %.1f to %.1f MiB",
                static_cast<unsigned>(scoreboard::kSamples * scoreboard::kSampleSeconds / 60),
                static_cast<double>(lo) / 1048576.0, static_cast<double>(hi) / 1048576.0);
  return svg + "<title>" + title + "</title><polyline fill=\"none\" stroke=\"#2a6f97\" stroke-width=\"1.5\" points=\"" +
         points + "\"/></svg>";
}

constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .3em}
.meta,.summary{color:#555;margin:.2em 0 .6em}
table{border-collapse:collapse;background:#fff;margin:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#eef2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.state-serving{color:#1a7f37}.state-draining{color:#9a6700}.state-spare,.state-starting{color:#57606a}
ul.requests{margin:0;padding-left:1.1em}code{font-size:.95em}td.last-exit{min-width:13em}
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em}
svg .none{font:11px sans-serif;fill:#888}
)";

void process_rows(std::string& h, const Process& p, std::int64_t now_us) {
  const std::string pid = std::to_string(p.pid);
  h += "<tr class=\"process\" data-pid=\"" + pid + "\">";
  h += "<td class=\"n index\">" + std::to_string(p.index) + "</td>";
  h += "<td class=\"n pid\">" + pid + "</td>";
  h += "<td class=\"state state-" + esc(p.state) + "\">" + esc(p.state) +
       (p.draining_cause.empty() ? "" : " (" + esc(p.draining_cause) + ")") + "</td>";
  h += "<td class=\"n uptime\">" + duration(p.uptime_seconds) + "</td>";
  h += "<td class=\"n requests-served\">" + std::to_string(p.requests_served) + "</td>";
  h += "<td class=\"n in-flight\">" + std::to_string(p.requests.size()) + "</td>";
  h += "<td class=\"n rss\" data-bytes=\"" + std::to_string(p.rss) + "\">" + mib(p.rss) + "</td>";
  h += "<td class=\"n peak-rss\" data-bytes=\"" + std::to_string(p.peak_rss) + "\">" + mib(p.peak_rss) + "</td>";
  h += "<td class=\"n pss\" data-bytes=\"" + std::to_string(p.pss) + "\">" + mib(p.pss) + "</td>";
  h += "<td class=\"n uss\" data-bytes=\"" + std::to_string(p.uss) + "\">" + mib(p.uss) + "</td>";
  h += "<td class=\"chart\">" + rss_chart(p, now_us) + "</td>";
  h += "<td class=\"n restarts\">" + std::to_string(p.restarts) + "</td>";
  h += "<td class=\"last-exit\">" + (p.last_exit.empty() ? std::string("&ndash;") : esc(p.last_exit)) + "</td>";
  h += "</tr>\n";
  if (p.requests.empty()) return;
  h += "<tr class=\"running\" data-pid=\"" + pid + "\"><td colspan=\"13\"><ul class=\"requests\">";
  for (const RunningRequest& r : p.requests)
    h += "<li class=\"request\"><code class=\"method\">" + esc(r.method) + "</code> <code class=\"url\">" +
         esc(r.url) + "</code> running <span class=\"running-seconds\">" + duration(r.running_seconds) +
         "</span></li>";
  h += "</ul></td></tr>\n";
}

template <class Counts, class Name>
std::string causes(const Counts& counts, Name name, const char* cls) {
  std::string out;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (!counts[i]) continue;
    out += std::string("<li class=\"") + cls + "\" data-cause=\"" + name(i) + "\">" + name(i) +
           ": <span class=\"count\">" + std::to_string(counts[i]) + "</span></li>";
  }
  return out.empty() ? "none" : "<ul>" + out + "</ul>";
}

void group_section(std::string& h, const Group& g, std::int64_t now_us) {
  h += "<section class=\"group\" data-group=\"" + esc(g.name) + "\">\n<h2>Group <code>" + esc(g.name) + "</code></h2>\n";
  h += "<p class=\"summary\"><span class=\"processes-configured\">" + std::to_string(g.processes_configured) +
       "</span> " + (g.processes_configured == 1 ? "process" : "processes") + " &times; <span class=\"threads\">" +
       std::to_string(g.threads) + "</span> " + (g.threads == 1 ? "thread" : "threads") +
       " &middot; queue: <span class=\"queue-waiting\">" +
       (g.queue.waiting ? std::to_string(*g.queue.waiting) : std::string("unknown")) +
       "</span> waiting (backlog " + std::to_string(g.queue.backlog_limit) + ")";
  // A request's wait is counted when it starts: the average is over the requests started.
  std::size_t started = g.requests;
  for (const Process& p : g.processes) started += p.requests.size();
  if (started) {
    char wait[64];
    std::snprintf(wait, sizeof wait, "%.1f ms average, %.1f ms longest",
                  g.queue.wait_seconds_total / static_cast<double>(started) * 1000, g.queue.wait_seconds_max * 1000);
    h += std::string(", queued ") + wait;
  }
  h += " &middot; <span class=\"total-requests\">" + std::to_string(g.requests) +
       "</span> requests since start &middot; <span class=\"total-restarts\">" + std::to_string(g.restarts) +
       "</span> restarts</p>\n";
  if (const auto& t = g.template_process)
    h += "<p class=\"template\" data-pid=\"" + std::to_string(t->pid) + "\">Template: pid <span class=\"pid\">" +
         std::to_string(t->pid) + "</span>, <span class=\"state\">" + esc(t->state) + "</span>, up " +
         duration(t->uptime_seconds) + " &middot; RSS <span class=\"rss\" data-bytes=\"" + std::to_string(t->rss) +
         "\">" + mib(t->rss) + "</span>, PSS <span class=\"pss\" data-bytes=\"" + std::to_string(t->pss) + "\">" +
         mib(t->pss) + "</span>, USS <span class=\"uss\" data-bytes=\"" + std::to_string(t->uss) + "\">" +
         mib(t->uss) + "</span> (shared with its processes copy-on-write)</p>\n";
  else
    h += "<p class=\"template none\">Template: none running (its processes start on their own)</p>\n";
  h += "<table class=\"processes\"><thead><tr><th>#</th><th>pid</th><th>state</th><th>uptime</th>"
       "<th>requests</th><th>in flight</th><th>RSS</th><th>peak RSS</th><th>PSS</th><th>USS</th>"
       "<th>RSS, last minutes</th><th>restarts</th><th>last exit</th></tr></thead><tbody>\n";
  for (const Process& p : g.processes) process_rows(h, p, now_us);
  if (g.processes.empty()) h += "<tr><td colspan=\"13\">no process running</td></tr>\n";
  h += "</tbody></table>\n";
  h += "<table class=\"totals\"><tr><th>failed requests</th><td class=\"failed\">" +
       causes(g.failed, [](std::size_t i) { return scoreboard::failure_name(static_cast<scoreboard::Failure>(i)); },
              "failure") +
       "</td></tr><tr><th>processes ended (recycles)</th><td class=\"recycles\">" +
       causes(g.recycles, [](std::size_t i) { return scoreboard::exit_cause_name(static_cast<std::uint32_t>(i)); },
              "recycle") +
       "</td></tr></table>\n</section>\n";
}

}  // namespace

std::string render_html(const StatusPage& page) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"10\"><meta name=\"viewport\" content=\"width=device-width\">"
      "<title>Gantry status</title><style>";
  h += kStyle;
  h += "</style></head><body>\n<h1>Gantry daemon status</h1>\n<p class=\"meta\">" + esc(page.server) +
       " &middot; generated " + clock_time(page.now_us);
  if (page.generation_started_us) h += " &middot; totals since " + clock_time(page.generation_started_us);
  h += " &middot; also as <a href=\"?json\">JSON</a> and <a href=\"?prometheus\">Prometheus</a></p>\n";
  if (page.groups.empty())
    h += "<p id=\"no-groups\" class=\"warning\">There are no daemon process groups: this server runs its "
         "applications in embedded mode only (no WSGIDaemonProcess).</p>\n";
  for (const Group& g : page.groups) group_section(h, g, page.now_us);
  if (!page.groups.empty()) {
    h += "<h2>Memory growth by URL</h2>\n<p class=\"summary\">Requests that raised a process's peak RSS the most "
         "(logged as GANTRY0210); a URL that keeps appearing here is worth its own WSGIDaemonProcess group.</p>\n"
         "<table id=\"growth\"><thead><tr><th>URL</th><th>group</th><th>pid</th><th>peak RSS before</th>"
         "<th>after</th><th>growth</th><th>when</th></tr></thead><tbody>\n";
    for (const GrowthRow& r : page.growth)
      h += "<tr class=\"growth\"><td><code class=\"method\">" + esc(r.method) + "</code> <code class=\"url\">" +
           esc(r.url) + "</code></td><td class=\"group\">" + esc(r.group) + "</td><td class=\"n pid\">" +
           std::to_string(r.pid) + "</td><td class=\"n before\" data-bytes=\"" + std::to_string(r.rss_before) +
           "\">" + mib(r.rss_before) + "</td><td class=\"n after\" data-bytes=\"" + std::to_string(r.rss_after) +
           "\">" + mib(r.rss_after) + "</td><td class=\"n\">" + mib(r.rss_after - r.rss_before) + "</td><td>" +
           clock_time(r.at_us) + "</td></tr>\n";
    if (page.growth.empty()) h += "<tr><td colspan=\"7\">none recorded</td></tr>\n";
    h += "</tbody></table>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace gantry::status
