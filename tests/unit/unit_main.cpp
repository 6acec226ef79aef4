// The Boost.Test entry point of gantry_unit_tests, in a file of its own so that every
// other tests/unit/*_tests.cpp is just a set of test suites.
#define BOOST_TEST_MODULE gantry_unit
#include <boost/test/unit_test.hpp>
