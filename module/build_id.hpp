#pragma once
// The GNU build id of the loaded mod_gantry.so (hex), "" if the linker wrote none. Tells two
// builds apart even when every version number is the same: the spawner, which runs the code
// of the first start, compares it with the one of the module a graceful restart loaded.
#include <string>

namespace gantry::module {

std::string this_build_id();

}  // namespace gantry::module
