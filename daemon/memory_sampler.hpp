#pragma once
// Samples this process's memory for the gantry-status page every scoreboard::kSampleSeconds:
// RSS into the board's history (the page's chart), PSS and USS (smaps_rollup, too costly
// for every request). One detached thread that sleeps between samples: it never touches
// Python and costs the request threads nothing.
#include "gantry/scoreboard_writer.hpp"

namespace gantry::daemon {

// Starts the sampler for `board` (null: does nothing). Once per process.
void start_memory_sampler(scoreboard::BoardWriter* board);

}  // namespace gantry::daemon
