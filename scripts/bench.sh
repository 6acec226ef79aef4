#!/usr/bin/env bash
# The load benchmark (issue 5): installs dependencies, builds, then runs bench/run.py, which
# starts Apache (static files, Debian's mod_wsgi, Gantry; daemon and embedded mode) and uWSGI
# behind mod_proxy_uwsgi one after the other on 127.0.0.1, loads each with wrk and writes
# bench/results/latest.json and bench/results/latest.md. Arguments go to bench/run.py
# (--help lists them; e.g. --servers gantry-daemon,mod_wsgi-daemon --workloads hello).
# A full run takes about 9 minutes; results from a busy machine are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
build_dir=${GANTRY_BUILD_DIR:-build}
export GANTRY_MODULES_DIR=${GANTRY_MODULES_DIR:-$(pwd)/$build_dir/modules}
exec /usr/bin/python3 bench/run.py "$@"
