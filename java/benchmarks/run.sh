#!/usr/bin/env bash
# The JMH comparison of issue 12: wafermon's hot path beside OpenTelemetry Java 1.68's, in one
# run, with allocation per operation and what each side delivered of what it emitted.
#
#   java/benchmarks/run.sh                 # install io.wafermon:wafermon, build, run, print the table
#   java/benchmarks/run.sh -i 10 'HotPath.log.*'   # any JMH options and a benchmark regexp replace the defaults
#
# Environment:
#   WAFERMON_BENCH_INSTALL=0   use the io.wafermon:wafermon already in the local repository
#   WAFERMON_NATIVE_REBUILD=1  rebuild the native library with cargo even if java/target has one
#   MAVEN_REPO_LOCAL=DIR       a local Maven repository other than ~/.m2/repository
#
# The defaults suit a 2-core shared machine: one fork, one benchmark thread, 3 warm-up and 5
# measured iterations of 2 s, -prof gc. A run takes about 10 minutes (most of it waiting, after
# each wafermon iteration, for the filesystem backend to write the iteration's events) and
# needs ~2 GB of memory and a few GB of free disk in the temp dir at a time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
java_dir=$(cd "$here/.." && pwd)
mvn_args=(-B -q)
if [[ -n "${MAVEN_REPO_LOCAL:-}" ]]; then
    mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL")
fi

if [[ "${WAFERMON_BENCH_INSTALL:-1}" != 0 ]]; then
    install=("${mvn_args[@]}" -f "$java_dir/pom.xml" install -DskipTests)
    if [[ -f "$java_dir/target/classes/native/linux-x86_64/libwafermon_jni.so" && "${WAFERMON_NATIVE_REBUILD:-0}" != 1 ]]; then
        install+=(-Dwafermon.native.skip=true)
    fi
    echo "== mvn ${install[*]}"
    mvn "${install[@]}"
fi
echo "== building $here/target/benchmarks.jar"
mvn "${mvn_args[@]}" -f "$here/pom.xml" package

jmh_args=("$@")
if [[ ${#jmh_args[@]} -eq 0 ]]; then
    jmh_args=(-f 1 -wi 3 -i 5 -w 2s -r 2s -t 1 -prof gc HotPath)
fi
mkdir -p "$here/target"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$here/target/jmh-$stamp.txt"
native_access=()
if java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED -version >/dev/null 2>&1 \
    && [[ $(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p') -ge 24 ]]; then
    native_access=(--enable-native-access=ALL-UNNAMED)
fi
cmd=(java "${native_access[@]}" -cp "$here/target/benchmarks.jar" io.wafermon.benchmarks.Compare
     "${jmh_args[@]}" -rf json -rff "$here/target/jmh-$stamp.json")
echo "== ${cmd[*]}"
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
"${cmd[@]}" 2>&1 | tee "$out"
echo "== full output: $out"
