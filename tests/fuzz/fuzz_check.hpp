#pragma once
// What every fuzz target shares: FUZZ_CHECK, the property assertion. A violated property is
// a finding like a crash, so it aborts (libFuzzer then saves the input as crash-*), with
// the target, the line and what was expected on stderr.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                         \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "FUZZ PROPERTY VIOLATED at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__, \
                   what, #condition);                                                       \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
