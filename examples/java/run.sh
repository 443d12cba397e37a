#!/usr/bin/env bash
# Builds examples/java against the installed io.wafermon:wafermon:0.1.0 (`mvn -B -f java
# install` first), runs it in an empty temp folder with no WAFERMON_* variables (so it writes
# JSONL under ./wafermon-data, the embedded default) and checks the events it wrote: the lot
# started and finished, its wafer subjobs with the lot as parent, the scratched wafer failed
# with the exception's class, and every emitted event written once.
# Last line: "java example: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WAFERS=20
LOT=LOT-4711

passed=0
failed=0
finish() {
    echo "java example: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
check() {
    local name=$1
    shift
    if "$@"; then
        echo "ok: $name"
        passed=$((passed + 1))
    else
        echo "FAILED: $name"
        failed=$((failed + 1))
    fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() {
    mvn -B -ntp -f "$HERE" package >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; return 1; }
    [ -f "$HERE/target/lot-inspection-0.1.0.jar" ] && [ -f "$HERE/target/lib/wafermon-0.1.0.jar" ]
}
check "builds against the installed io.wafermon:wafermon:0.1.0" build || true
[ "$failed" -eq 0 ] || finish

run() {
    # A subshell without the runner's WAFERMON_* settings: the defaults are under test.
    (
        cd "$work" || exit 1
        for name in $(compgen -e | grep '^WAFERMON_'); do unset "$name"; done
        java -jar "$HERE/target/lot-inspection-0.1.0.jar" "$WAFERS" "$LOT"
    ) >"$work/stdout.txt" 2>"$work/stderr.txt"
    local status=$?
    cat "$work/stdout.txt"
    [ "$status" -eq 0 ] || { echo "exit status $status"; cat "$work/stderr.txt"; return 1; }
}
check "runs to a clean close (java -jar, Config.fromEnv() with no environment)" run || true
[ "$failed" -eq 0 ] || finish

# Each check below reads the JSONL the run wrote; python3 prints why one fails.
verify() {
    python3 - "$1" "$work" "$WAFERS" "$LOT" <<'PY'
import glob, json, re, sys
what, work, wafers, lot_key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
events = []
for path in glob.glob(f"{work}/wafermon-data/**/*.jsonl", recursive=True):
    with open(path) as f:
        events += [json.loads(line) for line in f if line.strip()]
stdout = open(f"{work}/stdout.txt").read()

def of(kind, entity_kind):
    return [e for e in events if e["kind"] == kind and e["entity"]["kind"] == entity_kind]

def fail(why):
    print(f"  {why}")
    sys.exit(1)

lots = of("started", "lot")
lot = lots[0]["entity"] if len(lots) == 1 else fail(f"{len(lots)} lots started")
started = of("started", "wafer")
if what == "complete":
    m = re.search(r"Stats\(emitted=(\d+), queued=0, dropped=0, spilled=0, corrupt=0", stdout)
    m or fail(f"no clean stats line in: {stdout}")
    ids = {e["id"] for e in events}
    if int(m.group(1)) != len(events) or len(ids) != len(events):
        fail(f"emitted {m.group(1)}, written {len(events)} ({len(ids)} distinct ids)")
elif what == "lot":
    ends = [e for e in events if e["entity"]["id"] == lot["id"] and e["kind"] in ("finished", "failed", "canceled")]
    if lot.get("key") != lot_key or lot.get("name") != "lot-inspection" or "parent" in lot:
        fail(f"lot entity {lot}")
    if [(e["kind"], e["status"]) for e in ends] != [("finished", "succeeded")]:
        fail(f"lot endings {ends}")
    progress = [e["progress"] for e in events if e["entity"]["id"] == lot["id"] and e["kind"] == "progress"]
    if len(progress) != wafers + 1 or max(progress) != 100:
        fail(f"lot progress {progress}")
    metrics = {k: v for e in events if e["entity"]["id"] == lot["id"] and e["kind"] == "metric" for k, v in e["metrics"].items()}
    if metrics.get("wafers_failed") != 1:
        fail(f"lot metrics {metrics}")
elif what == "wafers":
    if len(started) != wafers:
        fail(f"{len(started)} wafer subjobs started, expected {wafers}")
    bad = [e["entity"] for e in started if e["entity"].get("parent") != lot["id"]]
    bad and fail(f"wafers without the lot as parent: {bad}")
    keys = sorted(e["entity"]["key"] for e in started)
    if keys != [f"{lot_key}.W{n:02}" for n in range(1, wafers + 1)]:
        fail(f"wafer keys {keys}")
    for e in started:
        mine = [x["kind"] for x in events if x["entity"]["id"] == e["entity"]["id"]]
        if mine.count("progress") < 2 or mine.count("metric") != 1:
            fail(f"{e['entity']['key']}: events {mine}")
elif what == "failed":
    ends = of("finished", "wafer") + of("failed", "wafer") + of("canceled", "wafer")
    failed = [e for e in ends if e["kind"] == "failed"]
    if len(ends) != wafers or len(of("finished", "wafer")) != wafers - 1 or len(failed) != 1:
        fail(f"wafer endings: {sorted(e['kind'] for e in ends)}")
    want = f"io.wafermon.examples.ScratchedWaferException: scratch on {lot_key}.W13"
    if failed[0]["entity"]["key"] != f"{lot_key}.W13" or failed[0].get("message") != want:
        fail(f"failed wafer {failed[0]}")
elif what == "logging":
    logs = [e for e in of("log", "wafer") if e["entity"]["key"] == f"{lot_key}.W13"]
    if [(e["level"], e["message"]) for e in logs] != [("error", "scratch across the wafer at slot 13")]:
        fail(f"W13's log events {logs}")
PY
}
check "every emitted event written once, nothing pending or dropped" verify complete
check "the lot started and finished, progress per wafer, wafers_failed metric" verify lot
check "$WAFERS wafer subjobs with the lot as parent, progress and a metric each" verify wafers
check "the scratched wafer failed with the exception's class and message, the rest finished" verify failed
check "a java.util.logging record on a pool thread is a log event of that thread's wafer" verify logging
finish
