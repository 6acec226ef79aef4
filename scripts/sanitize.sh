#!/usr/bin/env bash
# Builds everything with ASan+UBSan (-DGANTRY_SANITIZE=address,undefined, in build-asan/) and
# runs the unit tests and the integration subset below under it. Any sanitizer report fails
# the run: UBSan aborts the test binary; an Apache child's or daemon's report (written to
# its ServerRoot's sanitizer/ directory by tests/integration/harness.py) fails the test.
#
#   bash scripts/sanitize.sh             unit tests + the subset (what CI runs)
#   bash scripts/sanitize.sh all         unit tests + the whole integration suite
#
# The subset covers embedded and daemon mode, uploads (plain and chunked), streaming and
# sendfile responses, recycling, and failures (apps that raise or die, daemons that die);
# it runs under the event MPM only, to keep CI short (GANTRY_TEST_MPMS overrides that).
# GANTRY_SANITIZE_BUILD_DIR overrides build-asan.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${GANTRY_SANITIZE_BUILD_DIR:-build-asan}
SUBSET=(test_daemon_io.py test_input.py test_response.py test_sendfile.py test_app_errors.py
        test_daemon_failures.py test_daemon_lifecycle.py)

bash scripts/install-deps.sh
# -O1 -g1: ASan's recommended optimisation level, with line tables for the reports; it
# compiles in half the time of -O2 -g under ASan (the build is most of this script's time).
flags="-O1 -g1 -DNDEBUG"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGANTRY_SANITIZE=address,undefined \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

ctest --test-dir "$build_dir" -R '^(unit|wsgi_adapter)$' --output-on-failure

files=("${SUBSET[@]}")
[[ ${1:-} == all ]] && files=()
cd tests/integration
GANTRY_MODULES_DIR="$PWD/../../$build_dir/modules" GANTRY_TEST_MPMS=${GANTRY_TEST_MPMS:-event} \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider "${files[@]}"
