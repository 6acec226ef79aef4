#pragma once
// wsgi.multithread / wsgi.multiprocess for embedded mode, from the MPM.
#include "gantry/channel.hpp"

namespace gantry::module {

// Asks the MPM (valid after post_config); cheap, so callers may call it per request.
ServerTraits embedded_traits();

}  // namespace gantry::module
