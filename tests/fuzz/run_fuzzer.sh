#!/usr/bin/env bash
# Runs one libFuzzer target for GANTRY_FUZZ_SECONDS (default 25) from its seed corpus.
#   run_fuzzer.sh BINARY SEED_DIR WORK_DIR
# New inputs go to WORK_DIR/corpus (the seeds in the tree are only read); a crash, a
# sanitizer report, a violated property (abort), a leak, or an input slower than 10 s
# leaves WORK_DIR/crash-* (or leak-*, timeout-*) and fails the run. Reproduce one with
#   BINARY WORK_DIR/crash-...
set -euo pipefail
binary=$1 seeds=$2 work=$3
seconds=${GANTRY_FUZZ_SECONDS:-25}
mkdir -p "$work/corpus"
exec "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
