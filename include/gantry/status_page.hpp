#pragma once
// The gantry-status page's content and its three renderings (docs/status-page.md). The
// module fills a StatusPage from the scoreboards (already validated, scoreboard_reader.hpp),
// the parent's status table and the sockets' backlogs; everything here is plain data and
// text, unit-tested without Apache.
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gantry/scoreboard_reader.hpp"

namespace gantry::status {

struct RunningRequest {
  std::string method;
  std::string url;
  double running_seconds = 0;
};

struct Process {
  unsigned index = 0;  // the process slot in its group (0..processes-1)
  pid_t pid = 0;
  std::string state;           // spare, starting, serving, draining
  std::string draining_cause;  // while draining: why ("maximum_requests"...), else ""
  double uptime_seconds = 0;
  std::uint64_t requests_served = 0;
  std::uint64_t maximum_requests = 0;  // as drawn for this process; 0: none
  std::vector<RunningRequest> requests;  // in flight, oldest first
  std::uint64_t rss = 0, peak_rss = 0, pss = 0, uss = 0;  // bytes (0: not sampled yet)
  std::vector<scoreboard::Sample> rss_history;
  // The process slot, from the parent's status table.
  std::uint32_t restarts = 0;
  std::string last_exit;  // how the slot's previous process ended ("" if none)
};

// Requests waiting for a thread: connections the group's listening socket holds that no
// daemon thread accepted yet (threads accept only while idle, so nothing else queues).
struct Queue {
  std::optional<std::uint32_t> waiting;  // nullopt: the kernel would not say
  std::uint32_t backlog_limit = 0;
  double wait_seconds_total = 0;         // time requests spent queued, summed
  double wait_seconds_max = 0;           // the longest, among the live processes
};

// The group's template (docs/template.md): the process its daemon processes are forked
// from, with what it holds itself - the memory its children share with it.
struct Template {
  pid_t pid = 0;
  std::string state;  // starting (Python, preload=On's imports), ready
  double uptime_seconds = 0;
  std::uint64_t rss = 0, pss = 0, uss = 0;  // bytes (0: not sampled yet)
};

struct Group {
  std::string name;
  unsigned processes_configured = 0;
  unsigned threads = 0;
  std::vector<Process> processes;
  Queue queue;
  std::optional<Template> template_process;  // none running (chroot=, died, being replaced)
  // Since the server generation started.
  std::uint64_t requests = 0;
  std::array<std::uint64_t, scoreboard::kFailures> failed{};      // by scoreboard::Failure
  std::array<std::uint64_t, scoreboard::kExitCauses> recycles{};  // by exit cause index
  std::uint32_t restarts = 0;
};

struct GrowthRow {
  std::string method, url, group;
  pid_t pid = 0;
  std::uint64_t rss_before = 0, rss_after = 0;  // peak RSS, bytes
  std::int64_t at_us = 0;
};

struct StatusPage {
  std::int64_t now_us = 0;
  std::string server;  // "Apache/2.4.62 (Debian) Gantry/..."
  std::int64_t generation_started_us = 0;
  std::vector<Group> groups;     // empty: no daemon groups (embedded mode only)
  std::vector<GrowthRow> growth;  // the largest first, at most kGrowthShown
};
inline constexpr std::size_t kGrowthShown = 10;

// A wall-clock time (microseconds) in UTC, strftime `format`.
std::string format_utc(std::int64_t us, const char* format);

// "GET /x?y" -> {"GET", "/x?y"}; a text without a space is all URL.
std::pair<std::string, std::string> split_request(const std::string& text);

// One process cell as read from its board: adds it to `group` (live processes), its
// counters to the group's totals, its growth records to `growth`. `alive`: the pid exists.
void add_cell(Group& group, std::vector<GrowthRow>& growth, unsigned index,
              const scoreboard::BoardReading& board, bool alive, std::int64_t now_us);
// After all cells: orders each group's processes and keeps the largest growths.
void finish(StatusPage& page);

std::string render_json(const StatusPage& page);
std::string render_prometheus(const StatusPage& page);
std::string render_html(const StatusPage& page);

}  // namespace gantry::status
