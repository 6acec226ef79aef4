#!/usr/bin/env bash
# The whole test suite: dependencies, build, then unit tests (Boost.Test) and integration
# tests (pytest against a real Apache httpd, event and prefork MPMs) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure
