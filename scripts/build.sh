#!/usr/bin/env bash
# Configures and builds Gantry (mod_gantry.so, mod_gantry_python.so, unit tests) in build/.
# GANTRY_BUILD_DIR / GANTRY_BUILD_TYPE override the directory and the build type.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${GANTRY_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${GANTRY_BUILD_TYPE:-RelWithDebInfo}"
cmake --build "$build_dir" -j"$(nproc)"
echo "build: modules in $build_dir/modules"
