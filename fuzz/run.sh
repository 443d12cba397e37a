#!/usr/bin/env bash
# Fuzz one target with AFL++ (afl.rs) for MINUTES, starting from its checked-in corpus.
#   fuzz/run.sh TARGET MINUTES        e.g. fuzz/run.sh event_input 10
# Installs cargo-afl and builds AFL++ when missing, builds the instrumented target under
# $CARGO_TARGET_DIR (default: /tmp/wafermon-fuzz-target; instrumentation rebuilds everything,
# so it is kept apart from the workspace's target), runs afl-fuzz at the lowest priority, then:
#   - copies every crash and hang to fuzz/regressions/TARGET/ (the replay tests run them),
#   - with KEEP=1, adds afl's queue to fuzz/corpus/TARGET/ (minimized with afl-cmin.bash),
#   - prints the run's line for README.md (minutes, execs, corpus, crashes, hangs).
# Output of afl-fuzz is in $FUZZ_OUT (default: $CARGO_TARGET_DIR/afl/TARGET).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET MINUTES}
minutes=${2:?usage: fuzz/run.sh TARGET MINUTES}
[ -f "src/bin/$target.rs" ] || { echo "no target $target (see src/bin/)" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/wafermon-fuzz-target}
out=${FUZZ_OUT:-$CARGO_TARGET_DIR/afl/$target}

command -v cargo-afl >/dev/null 2>&1 || cargo install --locked cargo-afl
# Builds AFL++ and its runtime for this rustc once; says so (and fails) when already built.
cargo afl config --build >/dev/null 2>&1 || true
nice -n 19 cargo afl build --release --locked --bin "$target"

rm -rf "$out"
mkdir -p "$out"
# No UI (a log instead), no CPU binding or frequency check (a shared machine), a memory
# limit so an unbounded allocation is a crash, and a bound on one input's time.
AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_SKIP_CRASHES=1 \
    nice -n 19 cargo afl fuzz -i "corpus/$target" -o "$out" -V $((minutes * 60)) \
    -m 1024 -t 2000 "$CARGO_TARGET_DIR/release/$target" >"$out/afl.log" 2>&1 || {
    echo "afl-fuzz failed; its log:" >&2
    tail -n 30 "$out/afl.log" >&2
    exit 1
}

found=0
for kind in crashes hangs; do
    for file in "$out"/default/$kind/id:*; do
        [ -f "$file" ] || continue
        mkdir -p "regressions/$target"
        name=$(basename "$file" | tr ':,' '_-' | cut -c1-40)
        cp "$file" "regressions/$target/$kind-$name"
        found=$((found + 1))
    done
done

if [ "${KEEP:-0}" = 1 ]; then
    # The seeds plus afl's queue, one file per content, then minimized to the files that
    # each add coverage with AFL++'s afl-cmin.bash (its Python afl-cmin finds no tuples in
    # these persistent-mode targets); if that fails, the deduplicated files are kept.
    kept=$(mktemp -d)
    for file in "corpus/$target"/* "$out"/default/queue/id:*; do
        [ -f "$file" ] || continue
        cp "$file" "$kept/$(sha1sum "$file" | cut -c1-16)"
    done
    bin=$(dirname "$(ls -d "${XDG_DATA_HOME:-$HOME/.local/share}"/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-cmin.bash | tail -n 1)")
    rm -rf "$out/cmin"
    if AFL_PATH=$bin PATH=$bin:$PATH nice -n 19 "$bin/afl-cmin.bash" -i "$kept" -o "$out/cmin" \
        -m 1024 -t 2000 -- "$CARGO_TARGET_DIR/release/$target" >"$out/cmin.log" 2>&1 &&
        [ -n "$(ls "$out/cmin")" ]; then
        rm -rf "$kept"
        kept="$out/cmin"
    else
        echo "afl-cmin failed (see $out/cmin.log): keeping every distinct file" >&2
    fi
    if [ -n "$(ls "$kept")" ]; then
        rm -f "corpus/$target"/*
        cp "$kept"/* "corpus/$target"/
    fi
    [ "$kept" = "$out/cmin" ] || rm -rf "$kept"
fi

stat() { sed -n "s/^$1 *: *//p" "$out/default/fuzzer_stats"; }
echo "| $target | $(( $(stat run_time) / 60 )) | $(stat execs_done) | $(stat corpus_count) | $(ls "corpus/$target" | wc -l) | $(stat saved_crashes) | $(stat saved_hangs) |"
[ "$found" -eq 0 ] || echo "$found crash/hang inputs copied to fuzz/regressions/$target/" >&2
