// The gantry-status page as JSON (?json): {"groups": [{"name", "processes": [{..., "requests":
// [...]}], ...}], "memory_growth": [...]}. Field names are documented in docs/status-page.md.
#include <cstdio>
#include <ctime>

#include "gantry/status_page.hpp"

namespace gantry::status {
namespace {

class Json {
 public:
  std::string text;

  void str(std::string_view s) {
    text += '"';
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        text += '\\';
        text += c;
      } else if (u < 0x20 || u == 0x7f) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", u);
        text += esc;
      } else {
        text += c;
      }
    }
    text += '"';
  }
  void num(std::uint64_t n) { text += std::to_string(n); }
  void num(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", d);
    text += buf;
  }
  // "key": then the value the caller appends; a comma before every key but the first.
  void key(std::string_view k) {
    comma();
    str(k);
    text += ':';
  }
  void open(char c) {
    comma();
    text += c;
    first_ = true;
  }
  void close(char c) {
    text += c;
    first_ = false;
  }
  void item() { comma(); }  // an array element follows

 private:
  void comma() {
    if (!first_ && !text.empty() && text.back() != ':') text += ',';
    first_ = false;
  }
  bool first_ = true;
};

std::string iso_time(std::int64_t us) { return format_utc(us, "%Y-%m-%dT%H:%M:%SZ"); }

// "method" and "url" of a request (in flight, or a growth record).
void request_json(Json& j, const std::string& method, const std::string& url) {
  j.key("method"), j.str(method);
  j.key("url"), j.str(url);
}

void process_json(Json& j, const Process& p) {
  j.open('{');
  j.key("index"), j.num(static_cast<std::uint64_t>(p.index));
  j.key("pid"), j.num(static_cast<std::uint64_t>(p.pid));
  j.key("state"), j.str(p.state);
  j.key("draining_cause");
  if (p.draining_cause.empty()) j.text += "null";
  else j.str(p.draining_cause);
  j.key("uptime_seconds"), j.num(p.uptime_seconds);
  j.key("requests_served"), j.num(p.requests_served);
  j.key("maximum_requests"), j.num(p.maximum_requests);
  j.key("requests");
  j.open('[');
  for (const RunningRequest& r : p.requests) {
    j.open('{');
    request_json(j, r.method, r.url);
    j.key("running_seconds"), j.num(r.running_seconds);
    j.close('}');
  }
  j.close(']');
  j.key("rss_bytes"), j.num(p.rss);
  j.key("peak_rss_bytes"), j.num(p.peak_rss);
  j.key("pss_bytes"), j.num(p.pss);
  j.key("uss_bytes"), j.num(p.uss);
  j.key("rss_history");
  j.open('[');
  for (const scoreboard::Sample& s : p.rss_history) {
    j.open('[');
    j.item(), j.num(static_cast<double>(s.at_us) / 1e6);
    j.item(), j.num(s.rss);
    j.close(']');
  }
  j.close(']');
  j.key("restarts"), j.num(static_cast<std::uint64_t>(p.restarts));
  j.key("last_exit");
  if (p.last_exit.empty()) j.text += "null";
  else j.str(p.last_exit);
  j.close('}');
}

template <class Counts, class Name>
void counts_json(Json& j, const Counts& counts, Name name) {
  j.open('{');
  for (std::size_t i = 0; i < counts.size(); ++i) j.key(name(i)), j.num(counts[i]);
  j.close('}');
}

}  // namespace

std::string render_json(const StatusPage& page) {
  Json j;
  j.open('{');
  j.key("server"), j.str(page.server);
  j.key("generated_at"), j.str(iso_time(page.now_us));
  j.key("generation_started_at"), j.str(iso_time(page.generation_started_us));
  j.key("daemon_mode"), j.text += page.groups.empty() ? "false" : "true";
  j.key("groups");
  j.open('[');
  for (const Group& g : page.groups) {
    j.open('{');
    j.key("name"), j.str(g.name);
    j.key("processes_configured"), j.num(static_cast<std::uint64_t>(g.processes_configured));
    j.key("threads"), j.num(static_cast<std::uint64_t>(g.threads));
    j.key("processes");
    j.open('[');
    for (const Process& p : g.processes) process_json(j, p);
    j.close(']');
    j.key("template");
    if (const auto& t = g.template_process) {
      j.open('{');
      j.key("pid"), j.num(static_cast<std::uint64_t>(t->pid));
      j.key("state"), j.str(t->state);
      j.key("uptime_seconds"), j.num(t->uptime_seconds);
      j.key("rss_bytes"), j.num(t->rss);
      j.key("pss_bytes"), j.num(t->pss);
      j.key("uss_bytes"), j.num(t->uss);
      j.close('}');
    } else {
      j.text += "null";
    }
    j.key("queue");
    j.open('{');
    j.key("waiting");
    if (g.queue.waiting) j.num(static_cast<std::uint64_t>(*g.queue.waiting));
    else j.text += "null";
    j.key("backlog_limit"), j.num(static_cast<std::uint64_t>(g.queue.backlog_limit));
    j.key("wait_seconds_total"), j.num(g.queue.wait_seconds_total);
    j.key("wait_seconds_max"), j.num(g.queue.wait_seconds_max);
    j.close('}');
    j.key("totals");
    j.open('{');
    j.key("requests"), j.num(g.requests);
    j.key("restarts"), j.num(static_cast<std::uint64_t>(g.restarts));
    j.key("failed");
    counts_json(j, g.failed, [](std::size_t i) {
      return scoreboard::failure_name(static_cast<scoreboard::Failure>(i));
    });
    j.key("recycles");
    counts_json(j, g.recycles, [](std::size_t i) { return scoreboard::exit_cause_name(static_cast<std::uint32_t>(i)); });
    j.close('}');
    j.close('}');
  }
  j.close(']');
  j.key("memory_growth");
  j.open('[');
  for (const GrowthRow& r : page.growth) {
    j.open('{');
    request_json(j, r.method, r.url);
    j.key("group"), j.str(r.group);
    j.key("pid"), j.num(static_cast<std::uint64_t>(r.pid));
    j.key("rss_before_bytes"), j.num(r.rss_before);
    j.key("rss_after_bytes"), j.num(r.rss_after);
    j.key("growth_bytes"), j.num(r.rss_after - r.rss_before);
    j.key("at"), j.str(iso_time(r.at_us));
    j.close('}');
  }
  j.close(']');
  j.close('}');
  j.text += '\n';
  return std::move(j.text);
}

}  // namespace gantry::status
