#pragma once
// Finds, loads and starts the Python half (mod_gantry_python.so, next to mod_gantry.so).
// Per process, not per configuration pass: the object is dlopen()ed at most once and never
// dlclose()d, because Python cannot be unloaded and restarted in one process.
#include <httpd.h>

#include <string>

#include "gantry/python_api.hpp"

namespace gantry::module {

struct PythonRuntime {
  const PythonApi* api = nullptr;  // set once loaded (and ABI-checked)
  bool initialized = false;        // api->initialize succeeded in this process
  bool failed = false;             // loading or initialisation failed: requests get 500
  std::string error;               // why, for the per-request log line
};

// This process's runtime state (children inherit the parent's copy across fork).
PythonRuntime& python_runtime();

// Loads mod_gantry_python.so and starts Python with `settings`. Idempotent; logs failures
// (GANTRY0010-0013) against `s` and records them in python_runtime().
bool start_python(server_rec* s, const PythonSettings& settings);

// The directory mod_gantry.so was loaded from, and the Python object's path in it.
std::string python_object_path();

// In the root parent at each (re)configuration: opens the Python object so that processes
// which load it after dropping privileges or entering a chroot can do so through the
// inherited descriptor, even when its directory is not searchable by their user.
void hold_python_object();

// The descriptor hold_python_object() keeps (-1 if none): the parent sends it with every
// launch, because the spawner holds only the one of the first start.
int held_python_object_fd();

// In a daemon process started by the spawner: load the Python object from `path` (the
// parent's current one), else through `fd` (-1: none), not from what the spawner inherited.
void adopt_python_object(const std::string& path, int fd);

// In the spawner: forget the descriptor inherited from the parent (closed).
void drop_python_object();

// dlopen()s the Python object: by its path, else through the descriptor from
// hold_python_object(). nullptr with `error` set on failure.
void* open_python_object(std::string& error);

}  // namespace gantry::module
