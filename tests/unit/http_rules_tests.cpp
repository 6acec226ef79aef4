// The HTTP response syntax rules shared by the WSGI adapter and the daemon side.
#include <boost/test/unit_test.hpp>

#include "gantry/http_rules.hpp"

using namespace gantry::http;

BOOST_AUTO_TEST_SUITE(http_rules)

BOOST_AUTO_TEST_CASE(tokens) {
  BOOST_TEST(is_token("Content-Type"));
  BOOST_TEST(is_token("X-Custom_Header.1!#$%&'*+^`|~"));
  BOOST_TEST(!is_token(""));
  BOOST_TEST(!is_token("Bad Name"));
  BOOST_TEST(!is_token("Bad:Name"));
  BOOST_TEST(!is_token("Bad\r\nName"));
  BOOST_TEST(!is_token("(comment)"));
  BOOST_TEST(!is_token("caf\xe9"));
}

BOOST_AUTO_TEST_CASE(field_values) {
  BOOST_TEST(!find_bad_field_value_byte("text/html; charset=utf-8"));
  BOOST_TEST(!find_bad_field_value_byte("a\tb"));
  BOOST_TEST(!find_bad_field_value_byte("caf\xe9"));
  BOOST_TEST(!find_bad_field_value_byte(""));
  BOOST_TEST(find_bad_field_value_byte("a\rb").value_or(99) == 1u);
  BOOST_TEST(find_bad_field_value_byte("ab\n").value_or(99) == 2u);
  BOOST_TEST(find_bad_field_value_byte(std::string_view("a\0b", 3)).value_or(99) == 1u);
  BOOST_TEST(find_bad_field_value_byte("\x7f").value_or(99) == 0u);
  BOOST_TEST(find_bad_field_value_byte("\x1b[31m").value_or(99) == 0u);
}

BOOST_AUTO_TEST_CASE(hop_by_hop) {
  for (auto name : {"Connection", "keep-alive", "PROXY-AUTHENTICATE", "Proxy-Authorization", "TE", "Trailers",
                    "Transfer-Encoding", "upgrade"}) {
    BOOST_TEST(is_hop_by_hop(name), name);
  }
  BOOST_TEST(!is_hop_by_hop("Content-Length"));
  BOOST_TEST(!is_hop_by_hop("Trailer"));
  BOOST_TEST(!is_hop_by_hop("Tee"));
}

BOOST_AUTO_TEST_CASE(status_lines) {
  BOOST_TEST(parse_status_line("200 OK").value_or(0) == 200);
  BOOST_TEST(parse_status_line("404 Not Found").value_or(0) == 404);
  BOOST_TEST(parse_status_line("599 ").value_or(0) == 599);
  // 1xx is interim in HTTP: never a final status (a desync on keep-alive otherwise).
  BOOST_TEST(!parse_status_line("100 Continue"));
  BOOST_TEST(!parse_status_line("101 Switching Protocols"));
  BOOST_TEST(!parse_status_line("199 Anything"));
  BOOST_TEST(parse_status_line("200 OK").value_or(0) == 200);
  BOOST_TEST(!parse_status_line("200"));
  BOOST_TEST(!parse_status_line("200OK"));
  BOOST_TEST(!parse_status_line("2000 OK"));
  BOOST_TEST(!parse_status_line("099 Low"));
  BOOST_TEST(!parse_status_line("600 High"));
  BOOST_TEST(!parse_status_line("20x OK"));
  BOOST_TEST(!parse_status_line(" 200 OK"));
  BOOST_TEST(!parse_status_line("200 O\r\nK"));
}

BOOST_AUTO_TEST_CASE(content_length) {
  BOOST_TEST(parse_content_length("0").value_or(1) == 0u);
  BOOST_TEST(parse_content_length("123456").value_or(0) == 123456u);
  BOOST_TEST(!parse_content_length(""));
  BOOST_TEST(!parse_content_length("-1"));
  BOOST_TEST(!parse_content_length("1 2"));
  BOOST_TEST(!parse_content_length("12a"));
  BOOST_TEST(!parse_content_length("9999999999999999999999"));
}

BOOST_AUTO_TEST_CASE(case_insensitive_names) {
  BOOST_TEST(iequals("Content-Length", "content-length"));
  BOOST_TEST(!iequals("Content-Length", "content-lengt"));
  BOOST_TEST(!iequals("a", "b"));
}

BOOST_AUTO_TEST_SUITE_END()
