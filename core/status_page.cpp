// Building the gantry-status page from validated board readings (gantry/status_page.hpp).
#include "gantry/status_page.hpp"

#include <algorithm>
#include <ctime>

namespace gantry::status {

std::string format_utc(std::int64_t us, const char* format) {
  const std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::pair<std::string, std::string> split_request(const std::string& text) {
  const std::size_t space = text.find(' ');
  if (space == std::string::npos) return {std::string(), text};
  return {text.substr(0, space), text.substr(space + 1)};
}

void add_cell(Group& group, std::vector<GrowthRow>& growth, unsigned index,
              const scoreboard::BoardReading& board, bool alive, std::int64_t now_us) {
  using scoreboard::State;
  // Totals count every process the cell ever had, live or not.
  group.requests += board.total_requests;
  for (std::size_t f = 0; f < group.failed.size(); ++f) group.failed[f] += board.failed[f];
  for (std::size_t e = 0; e < group.recycles.size(); ++e) group.recycles[e] += board.exits[e];
  group.queue.wait_seconds_total += static_cast<double>(board.queue_wait_us) / 1e6;
  for (const scoreboard::Growth& g : board.growth) {
    auto [method, url] = split_request(g.request);
    growth.push_back({std::move(method), std::move(url), group.name, g.pid, g.before, g.after, g.at_us});
  }
  const bool live_state = board.state == State::spare || board.state == State::starting ||
                          board.state == State::serving || board.state == State::draining;
  if (!alive || !live_state || board.pid == 0) return;
  group.queue.wait_seconds_max =
      std::max(group.queue.wait_seconds_max, static_cast<double>(board.queue_wait_max_us) / 1e6);
  Process p;
  p.index = index;
  p.pid = board.pid;
  p.state = scoreboard::state_name(board.state);
  if (board.state == State::draining && board.draining_cause < scoreboard::kExitCauses)
    p.draining_cause = scoreboard::exit_cause_name(board.draining_cause);
  p.uptime_seconds = board.started_us ? static_cast<double>(std::max<std::int64_t>(0, now_us - board.started_us)) / 1e6 : 0;
  p.requests_served = board.requests;
  p.maximum_requests = board.request_limit;
  for (const scoreboard::InFlight& r : board.in_flight) {
    auto [method, url] = split_request(r.request);
    p.requests.push_back({std::move(method), std::move(url), static_cast<double>(now_us - r.started_us) / 1e6});
  }
  p.rss = board.rss;
  p.peak_rss = board.peak_rss;
  p.pss = board.pss;
  p.uss = board.uss;
  p.rss_history = board.samples;
  group.processes.push_back(std::move(p));
}

void finish(StatusPage& page) {
  for (Group& g : page.groups)
    std::stable_sort(g.processes.begin(), g.processes.end(), [](const Process& a, const Process& b) {
      return a.index != b.index ? a.index < b.index : a.pid < b.pid;
    });
  auto& growth = page.growth;
  std::sort(growth.begin(), growth.end(), [](const GrowthRow& a, const GrowthRow& b) {
    const std::uint64_t ga = a.rss_after - a.rss_before, gb = b.rss_after - b.rss_before;
    return ga != gb ? ga > gb : a.at_us > b.at_us;
  });
  if (growth.size() > kGrowthShown) growth.resize(kGrowthShown);
}

}  // namespace gantry::status
