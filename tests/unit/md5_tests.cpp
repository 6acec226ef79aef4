// MD5 names script modules like mod_wsgi ("_mod_wsgi_" + hexdigest of the path): a wrong
// digest would give every script a different sys.modules name than under mod_wsgi.
#include <boost/test/unit_test.hpp>

#include <string>

#include "gantry/md5.hpp"

using gantry::md5;
using gantry::md5_hex;

BOOST_AUTO_TEST_SUITE(md5_digest)

// The test suite of RFC 1321, appendix A.5.
BOOST_AUTO_TEST_CASE(rfc1321_vectors) {
  BOOST_TEST(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  BOOST_TEST(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  BOOST_TEST(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  BOOST_TEST(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  BOOST_TEST(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  BOOST_TEST(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
             "d174ab98d277d9f5a5611c2c9f419d9f");
  BOOST_TEST(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
             "57edf4a22be3c955ac49da2e2107b67a");
}

// Lengths around the padding boundaries (55/56: length field fits or needs a second block;
// 64: exactly one block of data), checked against Python's hashlib.md5.
BOOST_AUTO_TEST_CASE(padding_boundaries) {
  BOOST_TEST(md5_hex(std::string(55, 'x')) == "04364420e25c512fd958a70738aa8f72");
  BOOST_TEST(md5_hex(std::string(56, 'x')) == "668a72d5ba17f08e62dabcafad6db14b");
  BOOST_TEST(md5_hex(std::string(63, 'x')) == "7dc2ca208106a2f703567bdff99d8981");
  BOOST_TEST(md5_hex(std::string(64, 'x')) == "c1bb4f81d892b2d57947682aeb252456");
  BOOST_TEST(md5_hex(std::string(119, 'x')) == "ab347a5f68c8a443cfcddc633f12c24f");
  BOOST_TEST(md5_hex(std::string(120, 'x')) == "fb98667f98096de92620b64f46e1c5b5");
  BOOST_TEST(md5_hex(std::string(1000, 'x')) == "398533d48111e9f664b1f64cb10c4b63");
}

// Paths are hashed as their bytes: a UTF-8 name gives hashlib.md5(path.encode()).
BOOST_AUTO_TEST_CASE(non_ascii_bytes) {
  BOOST_TEST(md5_hex("/srv/app/caf\xc3\xa9.wsgi") == "9efdf341f092e8382e6f9980b496e3f5");
  const auto raw = md5("abc");
  BOOST_TEST(raw[0] == 0x90);
  BOOST_TEST(raw[15] == 0x72);
}

BOOST_AUTO_TEST_SUITE_END()
