#!/usr/bin/env bash
# Build the Perl dist against libwafermon and run its suite, two ways:
#   1. WAFERMON_LIB_DIR / WAFERMON_INCLUDE_DIR, linked to the shared library (rpath);
#   2. pkg-config, after `make -C c install` into a scratch prefix, linked statically
#      (what `make install` of libwafermon followed by a CPAN install does).
# Then it makes the dist tarball (which bundles the core and C ABI sources) and installs it:
# with make install (pkg-config), and with cpanm and no network twice, through
# WAFERMON_LIB_DIR and through the bundled sources (cargo, release, into
# $WAFERMON_PERL_BUNDLE_TARGET, default target/perl-bundle: cargo's dependencies stay
# built across runs, the bundled crates themselves are built once per run).
# libwafermon: $WAFERMON_LIB_DIR if set, else built here with cargo (release); the host
# binaries: $WAFERMON_SIDECAR_BIN / $WAFERMON_GATEWAY_BIN, else the tree's debug build.
# Installs what it needs through apt when missing (idempotent). The last line is
#   perl: N passed, N failed
# counting test files (each t/*.t once per build) plus the install and N/A checks; the exit status is
# non-zero when any failed. A file that skipped all its tests counts as failed (except the
# threads test on a perl without ithreads).
set -euo pipefail

PERL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PERL_DIR/.." && pwd)"
export WAFERMON_CONFORMANCE_DIR="$ROOT/core/conformance"
export WAFERMON_EXAMPLES_DIR="$ROOT/examples/perl"
# make dist's bundle.pl reads the Rust sources from here (the dist is built from a copy).
export WAFERMON_SOURCE_ROOT="$ROOT"

need_apt=()
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
perl -MExtUtils::MakeMaker -MJSON::PP -MTest::More -e 1 2>/dev/null || need_apt+=(perl)
perl -MLog::Any -e 1 2>/dev/null || need_apt+=(liblog-any-perl)
perl -MParallel::ForkManager -e 1 2>/dev/null || need_apt+=(libparallel-forkmanager-perl)
command -v cpanm >/dev/null 2>&1 || need_apt+=(cpanminus)
if ((${#need_apt[@]})); then
    echo "installing with apt: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ -n "${WAFERMON_LIB_DIR:-}" ]; then
    LIB_DIR="$WAFERMON_LIB_DIR"
else
    echo "building libwafermon with cargo (release)"
    (cd "$ROOT" && cargo build --release -p wafermon-ffi)
    LIB_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
INCLUDE_DIR="${WAFERMON_INCLUDE_DIR:-$ROOT/c/include}"

# The host binaries t/06-hosts.t runs (WAFERMON_SIDECAR_BIN / WAFERMON_GATEWAY_BIN, else
# the tree's debug build, built here when missing).
# shellcheck source=../scripts/host-binaries.sh
. "$ROOT/scripts/host-binaries.sh"

WORK="$(mktemp -d /tmp/wafermon-perl-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
assertions=0

# A clean copy of the dist (the tree may hold a developer's build).
copy_dist() {
    local dest="$1"
    mkdir -p "$dest"
    (cd "$PERL_DIR" && tar --exclude=./blib --exclude=./Makefile --exclude=./Makefile.old \
        --exclude='./MYMETA.*' --exclude=./pm_to_blib --exclude=./Wafermon.c \
        --exclude=./Wafermon.o --exclude=./Wafermon.bs --exclude='./Wafermon-*' -cf - .) |
        (cd "$dest" && tar -xf -)
}

# Build in $1 with the environment given after it, then run every t/*.t; count files.
build_and_test() {
    local label="$1"
    shift
    local dir="$WORK/$label"
    copy_dist "$dir"
    echo "=== $label: perl Makefile.PL && make"
    if ! (cd "$dir" && env "$@" perl Makefile.PL && make) >"$WORK/$label.build.log" 2>&1; then
        cat "$WORK/$label.build.log"
        echo "--- $label: the build FAILED (every test file counts as failed)"
        failed=$((failed + $(ls "$dir"/t/*.t | wc -l)))
        return
    fi
    grep -E '^Wafermon: ' "$WORK/$label.build.log" || true
    echo "=== $label: prove -b t/"
    local t
    for t in "$dir"/t/*.t; do
        local name log="$WORK/prove.log"
        name="$(basename "$t")"
        if (cd "$dir" && prove -b "t/$name") >"$log" 2>&1; then
            cat "$log"
            local n
            n=$(sed -n 's/^Files=1, Tests=\([0-9]*\),.*/\1/p' "$log" | head -n 1)
            assertions=$((assertions + ${n:-0}))
            # A file that skipped everything proved nothing: only a perl without ithreads
            # may skip the threads test.
            if grep -q 'skipped:' "$log" && ! grep -q 'skipped: .*no ithreads' "$log"; then
                failed=$((failed + 1))
                echo "--- $label: $name SKIPPED, counted as failed"
            else
                passed=$((passed + 1))
            fi
        else
            cat "$log"
            failed=$((failed + 1))
            echo "--- $label: $name FAILED"
        fi
    done
}

build_and_test lib-dir-shared \
    WAFERMON_LIB_DIR="$LIB_DIR" WAFERMON_INCLUDE_DIR="$INCLUDE_DIR" WAFERMON_LINK=shared

# pkg-config: libwafermon installed by the C Makefile into a scratch prefix, from the same
# build (CARGO=true: no second cargo run; LIBDIR: the library found above).
STAGE="$WORK/stage"
make -s --no-print-directory -C "$ROOT/c" install PREFIX="$STAGE" LIBDIR="$LIB_DIR" CARGO=true >/dev/null
build_and_test pkg-config-static \
    -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR PKG_CONFIG_PATH="$STAGE/lib/pkgconfig"

# Loads Wafermon from the install base $1 in a fresh perl (checking it came from there), runs
# a job writing to the filesystem backend under $2, and checks the JSONL: the job's start,
# its metric and its end, in that order, for that job.
use_installed() {
    local base="$1" data="$2"
    perl -I"$base/lib/perl5" -MWafermon -e '
        my ($base, $data) = @ARGV;
        index($INC{"Wafermon.pm"}, "$base/") == 0 or die "Wafermon.pm from $INC{q(Wafermon.pm)}\n";
        my $wm = Wafermon->new(config => { direct_backends => [ { type => "filesystem", path => "$data/data" } ],
                                           spool => { path => "$data/spool" } });
        $wm->run_job("installed", key => "LOT-9", sub { $_[0]->metric(n => 1) });
        $wm->close;' "$base" "$data"
    perl -MJSON::PP -e '
        my @events = map { JSON::PP::decode_json($_) } map { do { local @ARGV = $_; <> } } @ARGV;
        my @kinds = map { "$_->{kind}/$_->{status}" } @events;
        "@kinds" eq "started/running metric/running finished/succeeded" or die "events: @kinds\n";
        my %jobs = map { join(" ", @{ $_->{entity} }{qw(name key id)}) => 1 } @events;
        my ($job) = keys %jobs;
        keys %jobs == 1 && $job =~ /^installed LOT-9 / or die "events of jobs: @{[ keys %jobs ]}\n";
        $events[1]{metrics}{n} == 1 or die "metric n is not 1\n";
        print "ok: @kinds\n";' "$data"/data/*/*/*.jsonl
}

# The dist tarball: make dist, then build and install it (pkg-config, static) into a scratch
# INSTALL_BASE, delete the staged libwafermon, and use the installed module.
echo "=== dist tarball: make dist, install, use"
if (
    set -e
    cd "$WORK/pkg-config-static"
    make dist
    cp Wafermon-0.1.0.tar.gz "$WORK/"
    mkdir -p "$WORK/fromdist" && tar -xzf Wafermon-0.1.0.tar.gz -C "$WORK/fromdist"
    cd "$WORK/fromdist/Wafermon-0.1.0"
    env -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" \
        perl Makefile.PL INSTALL_BASE="$WORK/installed"
    make
    make install
    rm -rf "$STAGE"
    cd "$WORK"
    use_installed "$WORK/installed" "$WORK/use-installed"
) >"$WORK/dist.log" 2>&1; then
    passed=$((passed + 1))
    echo "--- dist tarball: ok"
else
    failed=$((failed + 1))
    cat "$WORK/dist.log"
    echo "--- dist tarball: FAILED"
fi

# cpanm installs the tarball with no network (every prerequisite is in core perl or came
# from apt; --notest: the suite ran above, twice), once through WAFERMON_LIB_DIR and once
# through the bundled sources: no WAFERMON_LIB_DIR, no pkg-config path, so the tarball has
# to build libwafermon itself. Each install is then used from a fresh perl. Arguments: a
# label (no spaces), the route Makefile.PL must report, the environment.
BUNDLE_TARGET="${WAFERMON_PERL_BUNDLE_TARGET:-$TARGET_DIR/perl-bundle}"
cpanm_install() {
    local label="$1" route="$2"
    shift 2
    echo "=== cpanm ($label): install Wafermon-0.1.0.tar.gz offline, use"
    if (
        set -e
        [ -e "$WORK/Wafermon-0.1.0.tar.gz" ] || { echo "no tarball (make dist failed above)"; exit 1; }
        cd "$WORK"
        env "$@" PERL_CPANM_HOME="$WORK/cpanm-home-$label" \
            cpanm --notest --mirror file:///nonexistent --mirror-only \
            --local-lib "$WORK/cpanm-$label" ./Wafermon-0.1.0.tar.gz
        grep -E '^Wafermon: ' "$WORK/cpanm-home-$label"/latest-build/build.log
        grep -qF "Wafermon: libwafermon from $route" "$WORK/cpanm-home-$label"/latest-build/build.log
        use_installed "$WORK/cpanm-$label" "$WORK/use-cpanm-$label"
    ) >"$WORK/cpanm-$label.log" 2>&1; then
        passed=$((passed + 1))
        grep -E '^(Wafermon: |ok: )' "$WORK/cpanm-$label.log" || true
        echo "--- cpanm ($label): ok"
    else
        failed=$((failed + 1))
        cat "$WORK/cpanm-$label.log"
        [ ! -e "$WORK/cpanm-home-$label/latest-build/build.log" ] ||
            tail -n 60 "$WORK/cpanm-home-$label/latest-build/build.log"
        echo "--- cpanm ($label): FAILED"
    fi
}
cpanm_install lib-dir WAFERMON_LIB_DIR \
    WAFERMON_LIB_DIR="$LIB_DIR" WAFERMON_INCLUDE_DIR="$INCLUDE_DIR"
cpanm_install bundled 'the bundled sources' \
    -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$WORK/empty" \
    WAFERMON_CARGO_TARGET_DIR="$BUNDLE_TARGET"

# The tarball without libwafermon and without cargo: N/A, naming cargo (PATH holds perl only).
echo "=== bundled sources, no cargo: perl Makefile.PL says what to install"
mkdir -p "$WORK/nocargo/bin"
ln -s "$(command -v perl)" "$WORK/nocargo/bin/perl"
if [ -e "$WORK/Wafermon-0.1.0.tar.gz" ] && tar -xzf "$WORK/Wafermon-0.1.0.tar.gz" -C "$WORK/nocargo" &&
    out=$(cd "$WORK/nocargo/Wafermon-0.1.0" && env -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR -u CARGO \
        PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$WORK/empty" PATH="$WORK/nocargo/bin" perl Makefile.PL 2>&1) &&
    [ ! -e "$WORK/nocargo/Wafermon-0.1.0/Makefile" ] && grep -q 'Install Rust\|install Rust' <<<"$out" &&
    grep -q 'cargo' <<<"$out"; then
    passed=$((passed + 1))
    echo "--- bundled sources, no cargo: ok"
else
    failed=$((failed + 1))
    echo "${out:-}"
    echo "--- bundled sources, no cargo: FAILED"
fi

# Without a library, Makefile.PL stops the CPAN "N/A" way: exit 0 and no Makefile.
echo "=== no library: perl Makefile.PL says what to install"
copy_dist "$WORK/none"
if out=$(cd "$WORK/none" && env -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR PKG_CONFIG_PATH= \
        PKG_CONFIG_LIBDIR="$WORK/empty" perl Makefile.PL 2>&1) &&
    [ ! -e "$WORK/none/Makefile" ] && grep -q 'make -C c install' <<<"$out"; then
    passed=$((passed + 1))
    echo "--- no library: ok"
else
    failed=$((failed + 1))
    echo "$out"
    echo "--- no library: FAILED"
fi

# In a checkout of the repository with nothing configured, `perl Makefile.PL && make && make
# test` in perl/ builds libwafermon from the workspace around it (route 3; the release build
# `make -C c` and the lines above made is reused), then the tree is cleaned again.
echo "=== checkout: perl Makefile.PL && make && make test in perl/, nothing configured"
if (
    set -e
    cd "$PERL_DIR"
    env -u WAFERMON_LIB_DIR -u WAFERMON_INCLUDE_DIR PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$WORK/empty" \
        perl Makefile.PL | tee "$WORK/checkout-configure.log"
    grep -qF 'Wafermon: libwafermon from the wafermon checkout' "$WORK/checkout-configure.log"
    make
    make test
) >"$WORK/checkout.log" 2>&1; then
    passed=$((passed + 1))
    grep -E '^(Wafermon: |Result: )' "$WORK/checkout.log" || true
    echo "--- checkout: ok"
else
    failed=$((failed + 1))
    cat "$WORK/checkout.log"
    echo "--- checkout: FAILED"
fi
(cd "$PERL_DIR" && [ ! -e Makefile ] || make -s realclean >/dev/null 2>&1) || true

echo "(passed and failed count test files per build and the six checks above; the passing files made $assertions top-level assertions)"
echo "perl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
