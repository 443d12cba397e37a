#!/usr/bin/env bash
# Builds and tests the Java package: installs a JDK and Maven if missing, builds the jar with
# its native library inside and runs the JUnit suite (`mvn install`, which also puts
# io.wafermon:wafermon:0.1.0 in the local repository), runs the same suite again on any
# other JDK on the machine (JDK 24+ with --enable-native-access), and then what depends on
# the installed artifact: the Logback appender (io.wafermon:wafermon-logback) and the
# example project (examples/java), built like any user's project.
# Ends with the line "java: N passed, N failed" (a skipped test counts as failed); exits
# non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
JAVA_DIR=$(pwd)
ROOT=$(cd .. && pwd)
MVN=(mvn -B -ntp -Dstyle.color=never)

log() { printf '\n==> %s\n' "$*"; }

passed=0
failed=0
finish() {
    echo "java: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

install_java() {
    command -v javac >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 && return 0
    log "installing a JDK and Maven"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
        $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            openjdk-17-jdk-headless maven >/dev/null
}

# Add the totals of the surefire runs in a Maven log ("Tests run: N, Failures: F, Errors: E,
# Skipped: S" summary lines, one per module run); a failed build without them counts as one
# failure.
count_surefire() {
    local out=$1 status=$2 name=$3
    local totals p=0 f=0
    totals=$(grep -E '^\[(INFO|WARNING|ERROR)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$out")
    if [ -n "$totals" ]; then
        p=$(echo "$totals" | awk -F'[:,]' '{s += $2 - $4 - $6 - $8} END {print s+0}')
        f=$(echo "$totals" | awk -F'[:,]' '{s += $4 + $6 + $8} END {print s+0}')
    fi
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAILED: $name (the build failed before or without test results)"
        f=1
    fi
    echo "$name: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
}

# Run Maven, keep its log, and count its tests under `name`.
maven_suite() {
    local name=$1
    shift
    local out
    out=$(mktemp)
    "${MVN[@]}" "$@" 2>&1 | tee "$out"
    # Maven ends with a terminal reset but no newline: start the count on a line of its own.
    echo
    count_surefire "$out" "${PIPESTATUS[0]}" "$name"
    rm -f "$out"
}

install_java || { failed=1; finish; }
java -version 2>&1 | head -n 1

log "sidecar and gateway binaries for the round-trip test"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ ! -x "$TARGET_DIR/debug/wafermon-sidecar" ] || [ ! -x "$TARGET_DIR/debug/wafermon-gateway" ]; then
    (cd "$ROOT" && cargo build --quiet -p wafermon-sidecar -p wafermon-gateway) ||
        echo "the hosts did not build: the round-trip test will fail"
fi
export WAFERMON_BIN_DIR=${WAFERMON_BIN_DIR:-$TARGET_DIR/debug}

log "mvn install (the native library in release, the jar, the JUnit suite on $(java -version 2>&1 | head -n 1))"
maven_suite "junit (default JDK)" -f "$JAVA_DIR" install

# Every other JDK here: the same compiled suite in a JVM of that JDK.
for jdk in /usr/lib/jvm/temurin-*-jdk-* /usr/lib/jvm/java-2[1-9]-openjdk-*; do
    [ -x "$jdk/bin/java" ] || continue
    version=$("$jdk/bin/java" -version 2>&1 | head -n 1)
    args="-Xcheck:jni"
    feature=$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | awk '/java.specification.version/ {print $3}')
    [ "${feature%%.*}" -ge 24 ] 2>/dev/null && args="$args --enable-native-access=ALL-UNNAMED"
    log "the JUnit suite again on $version"
    maven_suite "junit ($jdk)" -f "$JAVA_DIR" surefire:test -Djvm="$jdk/bin/java" "-Dwafermon.test.jvm.args=$args"
done

if [ -f "$JAVA_DIR/logback/pom.xml" ]; then
    log "io.wafermon:wafermon-logback (over the installed artifact)"
    maven_suite "logback" -f "$JAVA_DIR/logback" install
fi

if [ -x "$ROOT/examples/java/run.sh" ]; then
    log "examples/java (a separate project depending on io.wafermon:wafermon:0.1.0)"
    out=$(mktemp)
    "$ROOT/examples/java/run.sh" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    line=$(grep -E '^java example: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    p=$(echo "$line" | awk '{print $3}')
    f=$(echo "$line" | awk '{print $5}')
    p=${p:-0}
    f=${f:-0}
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    rm -f "$out"
fi

finish
