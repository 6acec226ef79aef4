// The status scoreboard (gantry/scoreboard*.hpp) and the status page renderings: what a
// daemon writes is what the page reads, a board full of garbage (a hostile application
// owns its board) neither crashes the reader nor yields implausible figures, and every
// rendering escapes what it shows.
#include <memory>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gantry/scoreboard_reader.hpp"
#include "gantry/scoreboard_writer.hpp"
#include "gantry/status_page.hpp"

namespace sb = gantry::scoreboard;
namespace st = gantry::status;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A board as Apache's parent makes one (module/status_boards.cpp), plus a read view.
struct TestBoard {
  int fd = -1;
  std::size_t bytes = 0;
  void* view = nullptr;
  explicit TestBoard(std::size_t threads) : bytes(sb::board_bytes(threads)) {
    fd = memfd_create("gantry-status-test", MFD_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(ftruncate(fd, static_cast<off_t>(bytes)) == 0);
    view = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    BOOST_REQUIRE(view != MAP_FAILED);
    auto* board = new (view) sb::ProcessBoard();
    for (std::size_t t = 0; t < threads; ++t) new (&sb::thread_scores(board)[t]) sb::ThreadScore();
    board->magic.store(sb::kMagic);
    board->threads.store(static_cast<std::uint32_t>(threads));
  }
  ~TestBoard() {
    munmap(view, bytes);
    close(fd);
  }
  sb::BoardReading read() const { return sb::read_board(view, bytes, now_us()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(scoreboard)

BOOST_AUTO_TEST_CASE(what_a_process_writes_is_what_the_reader_sees) {
  TestBoard tb(4);
  const std::unique_ptr<sb::BoardWriter> w_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* w = w_owned.get();
  BOOST_REQUIRE(w);
  BOOST_TEST(w->thread_capacity() == 4u);
  const std::int64_t t0 = now_us();
  w->begin_process(4242, t0, false);
  BOOST_TEST(static_cast<int>(tb.read().state) == static_cast<int>(sb::State::starting));
  w->set_state(sb::State::serving);
  w->request_started("GET", "/one?x=1", t0, 1500);
  w->request_finished(nullptr);
  w->request_started("POST", "/two", t0, -1);
  sb::BoardReading r = tb.read();
  BOOST_TEST(r.pid == 4242);
  BOOST_TEST(r.requests == 1u);
  BOOST_REQUIRE(r.in_flight.size() == 1u);
  BOOST_TEST(r.in_flight[0].request == "POST /two");
  const sb::Failure failure = sb::Failure::application_error;
  w->request_finished(&failure);
  w->note_rss(10 << 20, 12 << 20);
  w->note_sample(now_us(), 11 << 20, 5 << 20, 4 << 20);
  w->note_growth("GET", "/big", now_us(), 12 << 20, 80 << 20);
  r = tb.read();
  BOOST_TEST(r.in_flight.empty());
  BOOST_TEST(r.requests == 2u);
  BOOST_TEST(r.failed[0] == 1u);
  BOOST_TEST(r.queue_wait_us == 1500u);
  BOOST_TEST(r.rss == std::uint64_t(11) << 20);
  BOOST_TEST(r.pss == std::uint64_t(5) << 20);
  BOOST_TEST(r.samples.size() == 1u);
  BOOST_REQUIRE(r.growth.size() == 1u);
  BOOST_TEST(r.growth[0].request == "GET /big");
  BOOST_TEST(r.growth[0].pid == 4242);
  BOOST_TEST(r.consistent);
}

BOOST_AUTO_TEST_CASE(the_next_process_of_a_cell_carries_the_totals_and_counts_a_death) {
  TestBoard tb(2);
  const std::unique_ptr<sb::BoardWriter> first_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* first = first_owned.get();
  first->begin_process(100, now_us(), false);
  first->set_state(sb::State::serving);
  for (int i = 0; i < 5; ++i) {
    first->request_started("GET", "/", now_us(), 0);
    first->request_finished(nullptr);
  }
  first->draining(101);  // maximum-requests
  BOOST_TEST(tb.read().draining_cause == sb::exit_cause_index(101));
  first->exited(101);
  const std::unique_ptr<sb::BoardWriter> second_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* second = second_owned.get();  // the next process's own writer
  second->begin_process(200, now_us(), true);
  sb::BoardReading r = tb.read();
  BOOST_TEST(static_cast<int>(r.state) == static_cast<int>(sb::State::spare));
  BOOST_TEST(r.requests == 0u);
  BOOST_TEST(r.total_requests == 5u);
  BOOST_TEST(r.exits[sb::exit_cause_index(101)] == 1u);
  BOOST_TEST(r.exits[sb::kKilledCause] == 0u);  // a spare that dies is no crash
  second->set_state(sb::State::serving);
  const std::unique_ptr<sb::BoardWriter> third_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* third = third_owned.get();  // `second` died while serving
  third->begin_process(300, now_us(), false);
  BOOST_TEST(tb.read().exits[sb::kKilledCause] == 1u);
}

BOOST_AUTO_TEST_CASE(a_board_full_of_garbage_reads_as_plausible_figures) {
  TestBoard tb(3);
  std::mt19937_64 rng(14);
  auto* bytes = static_cast<unsigned char*>(tb.view);
  for (int round = 0; round < 200; ++round) {
    for (std::size_t i = 0; i < tb.bytes; ++i) bytes[i] = static_cast<unsigned char>(rng());
    if (round % 3 == 0) std::memset(bytes, 0xff, tb.bytes);  // every counter odd, every length huge
    const std::int64_t now = now_us();
    const sb::BoardReading r = sb::read_board(tb.view, tb.bytes, now);
    BOOST_TEST(r.pid >= 0);
    BOOST_TEST(r.pid <= (1 << 22));
    BOOST_TEST(static_cast<std::uint32_t>(r.state) < sb::kStates);
    BOOST_TEST(r.rss <= (std::uint64_t(1) << 46));
    BOOST_TEST(r.in_flight.size() <= 3u);
    for (const auto& f : r.in_flight) {
      BOOST_TEST(f.request.size() <= sb::kTextBytes);
      for (char c : f.request) BOOST_TEST((c >= 32 && c < 127));
      BOOST_TEST(f.started_us <= now);
    }
    for (const auto& g : r.growth) BOOST_TEST(g.after > g.before);
    BOOST_TEST(r.samples.size() <= sb::kSamples);
    // The page renders whatever the board says.
    st::StatusPage page;
    page.now_us = now;
    page.groups.emplace_back().name = "g";
    st::add_cell(page.groups[0], page.growth, 0, r, true, now);
    st::finish(page);
    BOOST_TEST(!st::render_json(page).empty());
    BOOST_TEST(!st::render_prometheus(page).empty());
    BOOST_TEST(!st::render_html(page).empty());
  }
}

BOOST_AUTO_TEST_CASE(a_writer_never_leaves_a_reader_with_a_torn_url) {
  TestBoard tb(1);
  const std::unique_ptr<sb::BoardWriter> w_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* w = w_owned.get();
  w->begin_process(7, now_us(), false);
  const std::string a(200, 'a'), b(120, 'b');
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      w->request_started("GET", a, now_us(), 0);
      w->request_finished(nullptr);
      w->request_started("GET", b, now_us(), 0);
      w->request_finished(nullptr);
    }
  });
  for (int i = 0; i < 20000; ++i) {
    const sb::BoardReading r = tb.read();
    for (const auto& f : r.in_flight)
      if (r.consistent) BOOST_TEST((f.request == "GET " + a || f.request == "GET " + b));
  }
  stop = true;
  writer.join();
}

BOOST_AUTO_TEST_CASE(growth_records_keep_the_largest) {
  TestBoard tb(1);
  const std::unique_ptr<sb::BoardWriter> w_owned(sb::BoardWriter::attach(tb.fd));  // a daemon keeps its writer for life; a test frees it
  sb::BoardWriter* w = w_owned.get();
  w->begin_process(7, now_us(), false);
  for (std::uint64_t i = 1; i <= 20; ++i) w->note_growth("GET", "/u" + std::to_string(i), now_us(), 0, i << 20);
  const sb::BoardReading r = tb.read();
  BOOST_REQUIRE(r.growth.size() == sb::kGrowthRecords);
  for (const auto& g : r.growth) BOOST_TEST(g.after >= (std::uint64_t(20 - sb::kGrowthRecords + 1) << 20));
}

BOOST_AUTO_TEST_CASE(attach_refuses_what_is_not_a_board) {
  const int fd = memfd_create("not-a-board", MFD_CLOEXEC);
  BOOST_REQUIRE(ftruncate(fd, static_cast<off_t>(sb::board_bytes(2))) == 0);
  BOOST_TEST(sb::BoardWriter::attach(fd) == nullptr);  // no magic
  BOOST_TEST(sb::BoardWriter::attach(-1) == nullptr);
  close(fd);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(status_rendering)

st::StatusPage sample_page() {
  st::StatusPage page;
  page.now_us = now_us();
  page.server = "Apache \"test\"";
  st::Group& g = page.groups.emplace_back();
  g.name = "we\"b";
  g.processes_configured = 1;
  g.threads = 2;
  g.requests = 7;
  g.queue.waiting = 3;
  st::Process& p = g.processes.emplace_back();
  p.pid = 321;
  p.state = "serving";
  p.requests_served = 7;
  p.rss = 1 << 20;
  p.requests.push_back({"GET", "/x?<script>alert(1)</script>&a=\"b\"\\", 1.5});
  page.growth.push_back({"GET", "/big\"one", "we\"b", 321, 1 << 20, 40 << 20, page.now_us});
  return page;
}

BOOST_AUTO_TEST_CASE(json_escapes_strings) {
  const std::string json = st::render_json(sample_page());
  BOOST_TEST(json.find("\"name\":\"we\\\"b\"") != std::string::npos);
  BOOST_TEST(json.find("\"url\":\"/x?<script>alert(1)</script>&a=\\\"b\\\"\\\\\"") != std::string::npos);
  BOOST_TEST(json.find("\"waiting\":3") != std::string::npos);
  BOOST_TEST(json.find("\"requests_served\":7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(prometheus_escapes_label_values_and_names_counters_total) {
  const std::string text = st::render_prometheus(sample_page());
  BOOST_TEST(text.find("gantry_requests_total{group=\"we\\\"b\"} 7\n") != std::string::npos);
  BOOST_TEST(text.find("# TYPE gantry_requests_total counter\n") != std::string::npos);
  BOOST_TEST(text.find("gantry_process_resident_memory_bytes{group=\"we\\\"b\",pid=\"321\",index=\"0\"} 1048576\n") !=
             std::string::npos);
  BOOST_TEST(text.find("url=\"/big\\\"one\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(html_escapes_everything_it_shows_and_loads_nothing) {
  const std::string html = st::render_html(sample_page());
  BOOST_TEST(html.find("<script>") == std::string::npos);
  BOOST_TEST(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  BOOST_TEST(html.find("src=") == std::string::npos);
  BOOST_TEST(html.find("data-pid=\"321\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_rendering_shows_the_templates_own_memory) {
  st::StatusPage page = sample_page();
  BOOST_TEST(st::render_json(page).find("\"template\":null") != std::string::npos);
  BOOST_TEST(st::render_html(page).find("class=\"template none\"") != std::string::npos);
  BOOST_TEST(st::render_prometheus(page).find("gantry_template_resident_memory_bytes{") == std::string::npos);
  page.groups[0].template_process = st::Template{654, "ready", 12.5, 13 << 20, 3 << 20, 1 << 20};
  const std::string json = st::render_json(page);
  BOOST_TEST(json.find("\"template\":{\"pid\":654,\"state\":\"ready\",\"uptime_seconds\":12.500,"
                       "\"rss_bytes\":13631488,\"pss_bytes\":3145728,\"uss_bytes\":1048576}") != std::string::npos);
  const std::string text = st::render_prometheus(page);
  BOOST_TEST(text.find("gantry_template_resident_memory_bytes{group=\"we\\\"b\",pid=\"654\"} 13631488\n") !=
             std::string::npos);
  BOOST_TEST(text.find("gantry_template_proportional_memory_bytes{group=\"we\\\"b\",pid=\"654\"} 3145728\n") !=
             std::string::npos);
  BOOST_TEST(text.find("gantry_template_unique_memory_bytes{group=\"we\\\"b\",pid=\"654\"} 1048576\n") !=
             std::string::npos);
  const std::string html = st::render_html(page);
  BOOST_TEST(html.find("<p class=\"template\" data-pid=\"654\">") != std::string::npos);
  BOOST_TEST(html.find("class=\"pss\" data-bytes=\"3145728\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_groups_says_so) {
  st::StatusPage page;
  page.now_us = now_us();
  BOOST_TEST(st::render_html(page).find("id=\"no-groups\"") != std::string::npos);
  BOOST_TEST(st::render_json(page).find("\"groups\":[]") != std::string::npos);
  BOOST_TEST(st::render_prometheus(page).find("gantry_daemon_groups 0\n") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
