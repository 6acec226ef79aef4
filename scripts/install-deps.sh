#!/usr/bin/env bash
# Installs everything Gantry needs to build and test on Debian 12: Apache httpd and its
# headers, Python 3.11 (embedded), Boost.Test, Debian's mod_wsgi (the reference the tests
# compare against), pytest, cmake/g++, strace (a test counts sendfile() calls), the
# load-test tools, Django and Flask (the conf-examples run real projects), headless
# Chromium and prometheus_client's parser (the status page's tests), and what the packaging
# tests use (mmdebstrap, podman, haproxy), and clang with its sanitizer/libFuzzer runtimes
# (scripts/fuzz.sh; the ASan build of scripts/sanitize.sh uses g++'s libasan), and gdb (the
# test harness reads the core of a child that crashed at stop). Idempotent:
# when every package is already installed it touches nothing. Runs unattended (CI=true, no
# stdin).
set -euo pipefail

PACKAGES=(
  apache2 apache2-dev
  python3.11 libpython3.11-dev python3-dev
  libboost-test-dev
  libapache2-mod-wsgi-py3
  python3-pytest
  cmake g++ pkg-config
  wrk curl procps
  strace
  uwsgi-core uwsgi-plugin-python3
  python3-django python3-flask   # the Django and Flask conf-examples (test_conf_examples.py)
  chromium python3-prometheus-client  # the gantry-status page's tests (test_status_page.py)
  # The packaging tests (ctest -L packaging): the .deb (dpkg-shlibdeps), a Debian 12 root
  # (mmdebstrap), the container image (podman with runc), the scale-out topology (haproxy,
  # network namespaces with iproute2).
  dpkg-dev mmdebstrap podman runc haproxy iproute2
  clang libclang-rt-14-dev       # libFuzzer + ASan/UBSan runtimes for scripts/fuzz.sh
  binutils                       # readelf: the harness spots an ASan-built module
  gdb                            # the harness reads a crashed child's core (httpd_stop_race.py)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    exec sudo -n --preserve-env=CI bash "$0" "$@"
  fi
  echo "install-deps: missing packages and not root (no sudo): ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Installing apache2 / mod_wsgi would normally start (or restart) Debian's apache2 service.
# The tests never use it (they run their own servers on ephemeral ports), so keep maintainer
# scripts from starting services for the duration of the install - unless the machine
# already has a policy in place, which we leave alone. An apache2 the user already runs is
# not touched.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# temporary, from gantry scripts/install-deps.sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if ((own_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -q </dev/null
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" </dev/null
echo "install-deps: done"
