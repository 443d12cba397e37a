#!/usr/bin/env bash
# Builds and tests the Python package: (re)uses the virtual environment python/.venv,
# installs the test tools, builds the wheel once with `pip wheel ./python` (what
# `pip install ./python` builds: the extension in release, through the maturin backend in
# an isolated build environment), installs that wheel into the venv and into a brand-new
# virtual environment, lints and type-checks the package (ruff, mypy --strict), builds the
# sidecar and gateway binaries if they are missing (for the round-trip tests), and runs pytest.
# Ends with the line "python: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
PY_DIR=$(pwd)
ROOT=$(cd .. && pwd)
VENV=${WAFERMON_PYTHON_VENV:-$PY_DIR/.venv}
PYTHON=${PYTHON:-python3}

log() { printf '\n==> %s\n' "$*"; }
finish() {
    echo "python: $1 passed, $2 failed"
    [ "$2" -eq 0 ]
    exit $?
}

log "virtual environment $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || finish 0 1
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet maturin pytest pytest-timeout jsonschema || finish 0 1

log "pip wheel ./python (the one release build of the extension)"
# A native library left by `maturin develop` must not end up in the package.
rm -f "$PY_DIR"/wafermon/_native*.so
# Every install below takes this one wheel: a second build from source would only repeat
# the isolated build environment and cargo's check of the release build.
WHEEL_DIR=$(mktemp -d)
trap 'rm -rf "$WHEEL_DIR"' EXIT
"$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WHEEL_DIR" "$PY_DIR" || finish 0 1
wheels=("$WHEEL_DIR"/wafermon-*.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
    echo "expected one wafermon wheel in $WHEEL_DIR, found: $(ls "$WHEEL_DIR")"
    finish 0 1
fi
WHEEL=${wheels[0]}
echo "built $(basename "$WHEEL")"

log "pip install the wheel into $VENV"
if ! "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"; then
    finish 0 1
fi

passed=0
failed=0

log "pip install the wheel into a brand-new virtual environment"
fresh=$(mktemp -d)
if "$PYTHON" -m venv "$fresh/venv" &&
    "$fresh/venv/bin/python" -m pip install --quiet "$WHEEL" &&
    (cd "$fresh" && "$fresh/venv/bin/python" -c '
import wafermon, wafermon.compat, wafermon.logging, pathlib
assert "site-packages" in wafermon.__file__, wafermon.__file__
assert (pathlib.Path(wafermon.__file__).parent / "py.typed").exists()
with wafermon.job("install-check") as job:
    job.progress(100)
stats = wafermon.shutdown()
assert stats["backends"][0]["sent"] == 3, stats
print("installed and ran:", wafermon.__file__)
'); then
    passed=$((passed + 1))
else
    echo "FAILED: pip install of the wheel in a fresh virtual environment"
    failed=$((failed + 1))
fi
rm -rf "$fresh"

log "ruff (lint and format) and mypy --strict (the package and how an application sees it)"
if "$VENV/bin/python" -m pip install --quiet mypy ruff &&
    (cd "$PY_DIR" && "$VENV/bin/ruff" check --no-cache wafermon tests benches ../examples/python &&
        "$VENV/bin/ruff" format --no-cache --check wafermon tests benches ../examples/python) &&
    (cd "$PY_DIR" && MYPYPATH=. "$VENV/bin/python" -m mypy --strict --cache-dir "$VENV/.mypy_cache" \
        wafermon tests/typing_sample.py); then
    passed=$((passed + 1))
else
    echo "FAILED: ruff or mypy --strict"
    failed=$((failed + 1))
fi

log "sidecar and gateway binaries for the round-trip tests"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ ! -x "$TARGET_DIR/debug/wafermon-sidecar" ] || [ ! -x "$TARGET_DIR/debug/wafermon-gateway" ]; then
    (cd "$ROOT" && cargo build --quiet -p wafermon-sidecar -p wafermon-gateway) ||
        echo "the hosts did not build: their round-trip tests will fail"
fi

log "pytest"
out=$(mktemp)
# From the tests folder, so that `import wafermon` is the installed package.
(cd "$PY_DIR/tests" && "$VENV/bin/python" -m pytest -p no:cacheprovider --timeout 300 -q -rfEs "$@") 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
# pytest's own summary ("1 failed, 203 passed in 19.5s"), not another line that happens to
# say "error" (a process's exit message on stderr comes after it).
summary=$(grep -E '[0-9]+ (passed|failed|errors?)(,.*)? in [0-9.]+s' "$out" | tail -n 1)
count() { echo "$summary" | grep -Eo "[0-9]+ $1" | grep -Eo '[0-9]+' || echo 0; }
p=$(count passed)
f=$(count failed)
e=$(count error)
passed=$((passed + p))
failed=$((failed + f + e))
# A crash or a collection problem may leave no counts: count it as a failure.
if [ "$status" -ne 0 ] && [ $((f + e)) -eq 0 ]; then failed=$((failed + 1)); fi
rm -f "$out"
finish "$passed" "$failed"
