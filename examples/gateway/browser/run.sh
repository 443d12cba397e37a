#!/usr/bin/env bash
# Headless Chromium tests of the gateway's web dashboard: installs playwright-core (npm ci,
# only when needed), builds the gateway and the fab feeder (release), runs test/*.test.mjs
# with node:test, and ends with "browser: N passed, N failed" counted from the runner's TAP
# results. Exits non-zero on any failure.
#
# Environment: CHROMIUM (default /usr/bin/chromium), WAFERMON_GATEWAY_BIN and
# WAFERMON_FAB_FEED_BIN (default: the release build below, made only when either is unset),
# CARGO_TARGET_DIR.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

# Any failure before the tests ran is still reported as one failed test, so the summary
# line is always there and never claims success.
give_up() {
    echo "$*" >&2
    echo "browser: 0 passed, 1 failed"
    exit 1
}

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
    give_up "node is required"
# playwright-core 1.65 needs Node 20; node:test's --test-concurrency needs 20 too.
[ "$node_major" -ge 20 ] || give_up "node $node_major is too old: Node.js 20 or later is required"

# npm ci only when node_modules is missing or stale: the lock's hash is stamped after install.
cd "$HERE" || give_up "cannot enter $HERE"
stamp=node_modules/.package-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
    npm ci --no-audit --no-fund --loglevel=error || give_up "npm ci failed"
    echo "$lock_hash" >"$stamp"
fi

cd "$ROOT" || give_up "cannot enter $ROOT"
# Given both programs (test.sh passes the debug builds its Rust tests made), build nothing.
if [ -z "${WAFERMON_GATEWAY_BIN:-}" ] || [ -z "${WAFERMON_FAB_FEED_BIN:-}" ]; then
    cargo build --release -p wafermon-gateway --bin wafermon-gateway --example fab_feed ||
        give_up "cargo build failed"
fi
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$ROOT/$target_dir ;; esac
export WAFERMON_GATEWAY_BIN=${WAFERMON_GATEWAY_BIN:-$target_dir/release/wafermon-gateway}
export WAFERMON_FAB_FEED_BIN=${WAFERMON_FAB_FEED_BIN:-$target_dir/release/examples/fab_feed}

# The spec reporter for people, a TAP copy for the counts. One file at a time: each test
# runs its own gateway, feeder and Chromium, and timing-sensitive tests need the cores.
cd "$HERE" || give_up "cannot enter $HERE"
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    test/*.test.mjs
status=$?

# The TAP summary's "# pass N", "# fail N" and "# cancelled N" (tests cut off by a timeout
# or a crashed file); cancelled ones count as failed.
count() { sed -n "s/^# $1 \([0-9][0-9]*\)$/\1/p" "$tap" | tail -n 1; }
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
if [ -z "$passed" ] || [ -z "$failed" ]; then
    give_up "node --test ended (status $status) without a summary"
fi
failed=$((failed + ${cancelled:-0}))
# A non-zero exit with nothing counted as failed (e.g. a file that failed to load) still fails.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "browser: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
