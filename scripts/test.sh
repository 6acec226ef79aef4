#!/usr/bin/env bash
# The test suite: dependencies, build, then unit tests (Boost.Test) and integration tests
# (pytest against a real Apache httpd, event and prefork MPMs) through ctest. The packaging
# tests (Debian package, container, scale-out; minutes, root) are left out here:
# `ctest --test-dir build -L packaging` runs them, and so does .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -LE packaging
