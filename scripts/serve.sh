#!/usr/bin/env bash
# Builds Gantry and serves conf-examples/sample-app/app.wsgi with gantry-express: a real Apache
# httpd in the foreground on 127.0.0.1:8080 (GANTRY_PORT or the first argument overrides the
# port), Gantry in daemon mode (2 processes x 8 threads). The configuration is generated into
# a temporary server root; the system apache2 is not touched. Ctrl-C stops everything.
#
#   bash scripts/serve.sh [PORT] [gantry-express options...]   e.g. 9000 --status-page
#   GANTRY_SERVE_MPM=event|prefork
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

port=${GANTRY_PORT:-8080}
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  port=$1
  shift
fi
mpm=${GANTRY_SERVE_MPM:-event}

bash scripts/install-deps.sh
bash scripts/build.sh

app_dir=$repo/conf-examples/sample-app
account=()
copy=
# As root the daemon processes run as www-data, who must be able to read the app.
if [[ $(id -u) -eq 0 ]]; then
  account=(--user www-data --group www-data)
  if ! runuser -u www-data -- test -r "$app_dir/app.wsgi" 2>/dev/null; then
    copy=$(mktemp -d /tmp/gantry-serve-app.XXXXXX)
    chmod 755 "$copy"
    cp -r "$app_dir/." "$copy/"
    chmod -R a+rX "$copy"
    echo "serve: $repo is not readable by www-data; serving a copy from $copy"
    app_dir=$copy
  fi
fi
cleanup() { [[ -z $copy ]] || rm -rf "$copy"; }
trap cleanup EXIT

# Not exec'ed: the trap removes the copy once gantry-express has stopped Apache.
status=0
bin/gantry-express start-server "$app_dir/app.wsgi" --port "$port" --mpm "$mpm" \
  --processes 2 --threads 8 --log-to-terminal --access-log ${account[@]+"${account[@]}"} "$@" ||
  status=$?
exit "$status"
