// The gantry-status page in Prometheus' text exposition format 0.0.4 (?prometheus). Names
// follow Prometheus' conventions: a gantry_ prefix, base units (bytes, seconds), _total for
// counters; labels `group`, `pid` (and `index`, the process slot), `cause`, `state`.
#include <cstdio>
#include <set>

#include "gantry/status_page.hpp"

namespace gantry::status {
namespace {

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Exposition {
 public:
  std::string text;

  void family(const char* name, const char* type, const char* help) {
    text.append("# HELP ").append(name).append(" ").append(help);
    text.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(const char* name, const std::string& labels, double value) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    text.append(name).append("{").append(labels).append("} ").append(buf).append("\n");
  }
};

std::string group_label(const Group& g) { return "group=\"" + label_value(g.name) + "\""; }

std::string process_labels(const Group& g, const Process& p) {
  return group_label(g) + ",pid=\"" + std::to_string(p.pid) + "\",index=\"" + std::to_string(p.index) + "\"";
}

// One family, one sample per process.
template <class Value>
void per_process(Exposition& e, const StatusPage& page, const char* name, const char* type, const char* help,
                 Value value) {
  e.family(name, type, help);
  for (const Group& g : page.groups)
    for (const Process& p : g.processes) e.sample(name, process_labels(g, p), value(p));
}

// One family, one sample per group.
template <class Value>
void per_group(Exposition& e, const StatusPage& page, const char* name, const char* type, const char* help,
               Value value) {
  e.family(name, type, help);
  for (const Group& g : page.groups) e.sample(name, group_label(g), value(g));
}

}  // namespace

std::string render_prometheus(const StatusPage& page) {
  Exposition e;
  e.family("gantry_daemon_groups", "gauge", "Daemon process groups configured (0: embedded mode only).");
  e.text += "gantry_daemon_groups " + std::to_string(page.groups.size()) + "\n";
  per_group(e, page, "gantry_group_processes", "gauge", "Processes configured for the group (processes=).",
            [](const Group& g) { return g.processes_configured; });
  per_group(e, page, "gantry_group_threads", "gauge", "Request threads per process (threads=).",
            [](const Group& g) { return g.threads; });
  per_group(e, page, "gantry_requests_total", "counter",
            "Requests the group's processes finished since the server generation started.",
            [](const Group& g) { return static_cast<double>(g.requests); });
  e.family("gantry_failed_requests_total", "counter", "Requests that failed in the daemon, by cause.");
  for (const Group& g : page.groups)
    for (std::size_t i = 0; i < g.failed.size(); ++i)
      e.sample("gantry_failed_requests_total",
               group_label(g) + ",cause=\"" + scoreboard::failure_name(static_cast<scoreboard::Failure>(i)) + "\"",
               static_cast<double>(g.failed[i]));
  e.family("gantry_recycles_total", "counter",
           "Daemon processes that ended, by cause (killed: died without leaving through Gantry).");
  for (const Group& g : page.groups)
    for (std::size_t i = 0; i < g.recycles.size(); ++i)
      e.sample("gantry_recycles_total",
               group_label(g) + ",cause=\"" + scoreboard::exit_cause_name(static_cast<std::uint32_t>(i)) + "\"",
               static_cast<double>(g.recycles[i]));
  per_group(e, page, "gantry_restarts_total", "counter", "Serving processes the parent replaced.",
            [](const Group& g) { return g.restarts; });
  e.family("gantry_queue_waiting_requests", "gauge",
           "Connections in the group's listening socket that no daemon thread accepted yet.");
  for (const Group& g : page.groups)
    if (g.queue.waiting) e.sample("gantry_queue_waiting_requests", group_label(g), *g.queue.waiting);
  per_group(e, page, "gantry_queue_backlog_limit", "gauge", "The listening socket's backlog (listen-backlog=).",
            [](const Group& g) { return g.queue.backlog_limit; });
  per_group(e, page, "gantry_queue_wait_seconds_total", "counter",
            "Time requests waited between the Apache child and a daemon thread, summed.",
            [](const Group& g) { return g.queue.wait_seconds_total; });

  e.family("gantry_process_state", "gauge", "1 for the state the daemon process is in.");
  for (const Group& g : page.groups)
    for (const Process& p : g.processes)
      e.sample("gantry_process_state", process_labels(g, p) + ",state=\"" + p.state + "\"", 1);
  per_process(e, page, "gantry_process_uptime_seconds", "gauge", "Seconds since the process started.",
              [](const Process& p) { return p.uptime_seconds; });
  per_process(e, page, "gantry_process_requests_total", "counter", "Requests this process finished.",
              [](const Process& p) { return static_cast<double>(p.requests_served); });
  per_process(e, page, "gantry_process_requests_in_flight", "gauge", "Requests the process is running now.",
              [](const Process& p) { return static_cast<double>(p.requests.size()); });
  per_process(e, page, "gantry_process_resident_memory_bytes", "gauge", "Resident set size.",
              [](const Process& p) { return static_cast<double>(p.rss); });
  per_process(e, page, "gantry_process_resident_memory_peak_bytes", "gauge", "Highest resident set size.",
              [](const Process& p) { return static_cast<double>(p.peak_rss); });
  per_process(e, page, "gantry_process_proportional_memory_bytes", "gauge",
              "Proportional set size (PSS), sampled every 5 s.", [](const Process& p) { return static_cast<double>(p.pss); });
  per_process(e, page, "gantry_process_unique_memory_bytes", "gauge",
              "Unique set size (USS: private pages), sampled every 5 s.",
              [](const Process& p) { return static_cast<double>(p.uss); });
  per_process(e, page, "gantry_process_restarts_total", "counter", "Times the process slot was refilled.",
              [](const Process& p) { return p.restarts; });

  // The templates' own memory: what their children share with them (PSS counts each
  // shared page once across the group, template included).
  const auto per_template = [&](const char* name, const char* help, std::uint64_t Template::*field) {
    e.family(name, "gauge", help);
    for (const Group& g : page.groups)
      if (const auto& t = g.template_process)
        e.sample(name, group_label(g) + ",pid=\"" + std::to_string(t->pid) + "\"", static_cast<double>((*t).*field));
  };
  per_template("gantry_template_resident_memory_bytes", "The group template's resident set size.", &Template::rss);
  per_template("gantry_template_proportional_memory_bytes", "The group template's proportional set size (PSS).",
               &Template::pss);
  per_template("gantry_template_unique_memory_bytes", "The group template's unique set size (USS).", &Template::uss);

  e.family("gantry_memory_growth_bytes", "gauge",
           "The largest peak-RSS growths a single request caused (GANTRY0210), by URL.");
  // The rows come largest first; a series (same labels) appears once, with its largest.
  std::set<std::string> seen;
  for (const GrowthRow& r : page.growth) {
    std::string labels = "group=\"" + label_value(r.group) + "\",pid=\"" + std::to_string(r.pid) +
                         "\",method=\"" + label_value(r.method) + "\",url=\"" + label_value(r.url) + "\"";
    if (seen.insert(labels).second)
      e.sample("gantry_memory_growth_bytes", labels, static_cast<double>(r.rss_after - r.rss_before));
  }
  return std::move(e.text);
}

}  // namespace gantry::status
