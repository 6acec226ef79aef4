#pragma once
// The facts about this Apache that the Python side exposes (the `apache` module,
// mod_wsgi.maximum_processes / threads_per_process, server_metrics()): see
// include/gantry/server_facts.hpp.
#include "gantry/server_facts.hpp"

namespace gantry::module {

// For Python in Apache's children (embedded mode), after the configuration is read
// (post_config): the MPM's figures, and the scoreboard as server_metrics().
ServerFacts embedded_server_facts();

// The same facts for a daemon process of a group with `processes` x `threads`: the group's
// figures for mod_wsgi.*, the MPM's for apache.*, and no scoreboard (a daemon process is
// forked before Apache creates it), so server_metrics() gives None as under mod_wsgi.
ServerFacts daemon_server_facts(const ServerFacts& embedded, int processes, int threads);

}  // namespace gantry::module
