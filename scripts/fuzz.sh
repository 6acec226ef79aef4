#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -DGANTRY_FUZZ=ON, in build-fuzz/) and runs them.
#
#   bash scripts/fuzz.sh                 every target for 25 s (what CI runs)
#   bash scripts/fuzz.sh all 60          every target for 60 s
#   bash scripts/fuzz.sh fuzz_daemon_response 3600    one target for an hour
#
# Each target starts from its seeds in tests/fuzz/corpus/TARGET/ and keeps what it finds in
# build-fuzz/tests/fuzz/work/TARGET/corpus (so a later run goes on from there). A crash, a
# sanitizer report or a violated property fails the run and leaves the input in
# build-fuzz/tests/fuzz/work/TARGET/crash-* (run the target binary on it to reproduce).
# GANTRY_FUZZ_BUILD_DIR overrides build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-25}
build_dir=${GANTRY_FUZZ_BUILD_DIR:-build-fuzz}

bash scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGANTRY_FUZZ=ON >/dev/null
cmake --build "$build_dir" --target fuzz_targets -j"$(nproc)"

regex=fuzz_
[[ $target == all ]] || regex="^${target}\$"
GANTRY_FUZZ_SECONDS=$seconds ctest --test-dir "$build_dir" -L fuzz -R "$regex" --output-on-failure
