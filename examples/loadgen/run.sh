#!/usr/bin/env bash
# The whole wafermon load benchmark on this machine: builds the load tool, the sidecar and
# the gateway in release mode, then runs `wafermon-loadgen all` (PostgreSQL via
# scripts/postgres.sh, a fresh database, every run, one summary table, clean-up).
# A benchmark, not a test: it reports goals met or not and exits 0 either way.
#
#   examples/loadgen/run.sh                      # full run: seeds to 10,000,000 events
#   examples/loadgen/run.sh --events 200000      # quick check
#   examples/loadgen/run.sh --help               # every option
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p wafermon-loadgen -p wafermon-sidecar -p wafermon-gateway
exec "${CARGO_TARGET_DIR:-target}/release/wafermon-loadgen" all --no-build "$@"
