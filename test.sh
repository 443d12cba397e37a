#!/usr/bin/env bash
# Installs what the tests need (idempotently), starts PostgreSQL for the gateway's tests and
# the real servers of the direct backends (scripts/servers/, stopped by PID on exit), and
# runs every test suite: Rust (unit, integration, conformance vectors, header check, the
# backends against their servers, sidecar and gateway against their real binaries), lint,
# the C suite, the Python package (built with pip, tested with pytest), the Java package
# (built and installed with Maven, tested with JUnit on every JDK here), the Perl dist
# (built against libwafermon, prove), the R package (its source tarball installed offline,
# testthat, R CMD check), and headless Chromium browser tests of the gateway's dashboard.
# Each suite ends with a line "N passed, N failed"; the script exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
# Every run here builds from scratch; incremental state would only double the target's size.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

log() { printf '\n==> %s\n' "$*"; }

install_deps() {
    local need=()
    command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
    [ -f /usr/include/cjson/cJSON.h ] || need+=(libcjson-dev)
    command -v make >/dev/null 2>&1 || need+=(make)
    command -v cc >/dev/null 2>&1 || need+=(gcc)
    # The backend servers' scripts: health checks, one build at a time, their own venv.
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v flock >/dev/null 2>&1 || need+=(util-linux)
    python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
    # The kafka backend's librdkafka links OpenSSL (TLS, SCRAM); the amqps:// test puts a
    # TLS terminator (socat) with a test CA (openssl) in front of RabbitMQ.
    [ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    command -v socat >/dev/null 2>&1 || need+=(socat)
    # The gateway's browser tests: Node.js runs them, playwright-core drives this Chromium.
    [ -x /usr/bin/chromium ] || need+=(chromium)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
        $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo is required (https://rustup.rs)" >&2
        exit 1
    fi
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
}

start_postgres() {
    log "PostgreSQL for the gateway tests"
    local url
    if ! url=$(scripts/postgres.sh | tail -n 1); then
        echo "PostgreSQL could not be started; the gateway's PostgreSQL tests will fail" >&2
        return
    fi
    export WAFERMON_TEST_POSTGRES_URL="$url"
    echo "using $url"
}

# The direct backends' servers (scripts/servers/NAME.sh); the tests start them too, but
# starting them here first keeps install output readable and timings out of the tests.
SERVERS=(seaweedfs s3s osmem moto zabbix zabbix-api victorialogs kafka rabbitmq)
started_servers=()

SERVERS_STATE=${WAFERMON_SERVERS_DIR:-/tmp/wafermon-servers}

# The instances this run started ("NAME PORT", read from the PID files that appeared), so
# the run stops those and leaves alone servers that were already running.
start_servers() {
    log "servers for the backend tests: ${SERVERS[*]}"
    local name before file base
    mkdir -p "$SERVERS_STATE"
    before=$(ls "$SERVERS_STATE"/*.pid 2>/dev/null || true)
    for name in "${SERVERS[@]}"; do
        [ -f "scripts/servers/$name.sh" ] || continue
        bash "scripts/servers/$name.sh" start ||
            echo "$name could not be started; its backend tests will fail" >&2
    done
    for file in "$SERVERS_STATE"/*.pid; do
        [ -f "$file" ] || continue
        grep -qxF "$file" <<<"$before" && continue
        base=$(basename "$file" .pid)
        started_servers+=("${base%-*} ${base##*-}")
    done
}

stop_servers() {
    local entry
    for entry in "${started_servers[@]}"; do
        # shellcheck disable=SC2086
        set -- $entry
        bash "scripts/servers/$1.sh" stop "$2" || true
    done
}
trap stop_servers EXIT

failures=0
summary=()

# Run a suite; record "name: N passed, N failed" from a status and counts.
record() {
    local name=$1 passed=$2 failed=$3
    summary+=("$name: $passed passed, $failed failed")
    [ "$failed" -eq 0 ] || failures=$((failures + 1))
}

rust_tests() {
    log "cargo test --workspace --all-features"
    local out
    out=$(mktemp)
    # The end-to-end tests run the sidecar and gateway binaries together: build both first.
    # Every backend feature is on, so each backend's tests run against its server.
    cargo build --workspace --all-features --bins 2>&1 | tee "$out"
    # --no-fail-fast: one failing test binary must not hide the results of the others.
    cargo test --workspace --all-features --no-fail-fast 2>&1 | tee -a "$out"
    local status=${PIPESTATUS[0]}
    local passed failed
    passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$out" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
    failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$out" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
    # A crash or compile error leaves no result line: count it as a failure.
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    echo "rust: $passed passed, $failed failed"
    record rust "$passed" "$failed"
    rm -f "$out"
}

lint() {
    log "cargo fmt --check and cargo clippy -D warnings"
    local failed=0
    cargo fmt --all --check || failed=$((failed + 1))
    cargo clippy --workspace --all-features --all-targets -- -D warnings || failed=$((failed + 1))
    cargo clippy -p wafermon --no-default-features --all-targets -- -D warnings || failed=$((failed + 1))
    # The R package's crate is outside the workspace (its clippy needs R: r/test.sh's machine).
    cargo fmt --manifest-path r/src/rust/Cargo.toml --check || failed=$((failed + 1))
    echo "lint: $((4 - failed)) passed, $failed failed"
    record lint $((4 - failed)) "$failed"
}

# Run a suite that ends with a line "[PREFIX]N passed, N failed" and record its counts;
# a crash that prints no such line counts as a failure.
counted_suite() {
    local name=$1 prefix=$2
    shift 2
    local out
    out=$(mktemp)
    "$@" 2>&1 | tee "$out"
    local status=${PIPESTATUS[0]}
    local line passed=0 failed=0
    line=$(grep -E "^${prefix}[0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
    if [ -n "$line" ]; then
        line=${line#"$prefix"}
        passed=$(echo "$line" | awk '{print $1}')
        failed=$(echo "$line" | awk '{print $3}')
    fi
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    record "$name" "$passed" "$failed"
    rm -f "$out"
}

c_tests() {
    log "make -C c test"
    counted_suite c "" make -C c test
}

python_tests() {
    log "python/test.sh (pip install ./python, pytest)"
    counted_suite python "python: " python/test.sh
}

java_tests() {
    log "java/test.sh (mvn install: the jar with its native library, JUnit, the example project)"
    counted_suite java "java: " java/test.sh
}

perl_tests() {
    log "perl/test.sh (the Wafermon dist built against libwafermon, prove, make dist)"
    counted_suite perl "perl: " perl/test.sh
}

r_tests() {
    log "r/test.sh (the R source tarball installed offline, testthat, R CMD check)"
    counted_suite r "r: " r/test.sh
}

browser_tests() {
    log "examples/gateway/browser/run.sh (headless Chromium against the gateway)"
    local target
    # The gateway and the fab feeder the Rust tests built (debug, every feature; the build
    # below is a no-op after them): a release build for the browser alone took minutes cold.
    cargo build --quiet --workspace --all-features --bin wafermon-gateway --example fab_feed
    target=${CARGO_TARGET_DIR:-target}
    case $target in /*) ;; *) target=$ROOT/$target ;; esac
    WAFERMON_GATEWAY_BIN=$target/debug/wafermon-gateway \
        WAFERMON_FAB_FEED_BIN=$target/debug/examples/fab_feed \
        counted_suite browser "browser: " examples/gateway/browser/run.sh
}

quickstart() {
    log "quickstart on the embedded default"
    local dir status target bin
    # The program README's `cargo run --release --example quickstart` runs, as the Rust tests
    # built it: with the workspace's features, `cargo test --workspace --all-features` compiled
    # this example already, so this build is a no-op. `cargo run --release` would compile the
    # core's dev-dependencies (criterion, opentelemetry, jsonschema) in release for it alone.
    cargo build --quiet --workspace --all-features --example quickstart
    target=${CARGO_TARGET_DIR:-target}
    case $target in /*) ;; *) target=$ROOT/$target ;; esac
    bin=$target/debug/examples/quickstart
    dir=$(mktemp -d)
    (cd "$dir" && "$bin")
    status=$?
    if [ "$status" -eq 0 ] && ls "$dir"/wafermon-data/*/*/events-*.jsonl >/dev/null 2>&1; then
        record quickstart 1 0
    else
        record quickstart 0 1
    fi
    rm -rf "$dir"
}

install_deps
start_postgres
start_servers
rust_tests
lint
c_tests
python_tests
java_tests
perl_tests
r_tests
quickstart
browser_tests

log "summary"
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$failures" -eq 0 ]; then
    echo "all suites passed"
    exit 0
fi
echo "$failures suite(s) failed"
exit 1
