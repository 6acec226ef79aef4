#pragma once
// The spawner process itself (docs/spawner.md): forked from Apache's parent by
// daemon_spawner.cpp, it waits for launch messages and creates each daemon process with
// clone(CLONE_PARENT), so the new process is a child of Apache's parent. It never runs
// Python and never returns.
#include <sys/types.h>

namespace gantry::module {

inline constexpr const char* kSpawnerTitle = "(gantry-spawner)";

// In the freshly forked spawner: `sock` is its end of the socketpair, `parent` Apache's parent
// (the only sender it accepts).
[[noreturn]] void run_spawner(int sock, pid_t parent) noexcept;

}  // namespace gantry::module
