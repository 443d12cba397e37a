#!/usr/bin/env bash
# The R package as a user gets it: r/build-tarball.sh makes wafermon_0.1.0.tar.gz, which is
# installed into a fresh library with the network off (every crate is in the tarball), then
# the testthat suite runs against that install (run-tests.R: the conformance vectors, the
# API, mclapply and PSOCK workers, the real sidecar and gateway), the example runs, and
# R CMD check --no-manual checks the tarball (no ERROR or WARNING; NOTEs are printed).
# Installs R and the Debian packages it needs when missing (idempotent). The host binaries:
# $WAFERMON_SIDECAR_BIN / $WAFERMON_GATEWAY_BIN, else the tree's debug build. The last line:
#   r: N passed, N failed
# counting the testthat tests plus the offline install, the example and the check.
set -euo pipefail

R_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$R_DIR/.." && pwd)"
export WAFERMON_CONFORMANCE_DIR="$ROOT/core/conformance"

need_apt=()
command -v Rscript >/dev/null 2>&1 || need_apt+=(r-base-dev)
for pkg in testthat jsonlite bench logger; do
    [ -d "/usr/lib/R/site-library/$pkg" ] || [ -d "/usr/lib/R/library/$pkg" ] || need_apt+=("r-cran-$pkg")
done
command -v xz >/dev/null 2>&1 || need_apt+=(xz-utils)
if ((${#need_apt[@]})); then
    echo "installing with apt: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# shellcheck source=../scripts/host-binaries.sh
. "$ROOT/scripts/host-binaries.sh"

WORK="$(mktemp -d /tmp/wafermon-r-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
step() {
    if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok: $2"; else failed=$((failed + 1)); echo "FAILED: $2"; fi
}

echo "== r/build-tarball.sh"
(cd "$WORK" && "$R_DIR/build-tarball.sh")
TARBALL="$WORK/wafermon_0.1.0.tar.gz"

# No network for the install: a network namespace of its own when this user may make one.
offline=()
if unshare -n true 2>/dev/null; then offline=(unshare -n); fi
echo "== install.packages from the tarball into a fresh library ${offline[*]:+(no network)}"
mkdir -p "$WORK/lib"
status=0
"${offline[@]}" Rscript -e "install.packages('$TARBALL', lib = '$WORK/lib', repos = NULL, type = 'source')" \
    > "$WORK/install.log" 2>&1 || status=$?
grep -q "DONE (wafermon)" "$WORK/install.log" || status=1
[ "$status" -eq 0 ] || tail -n 40 "$WORK/install.log"
step "$status" "offline install of wafermon_0.1.0.tar.gz"
export R_LIBS="$WORK/lib"

echo "== testthat (run-tests.R)"
tests_out="$WORK/tests.log"
(cd "$R_DIR" && RUST_BACKTRACE=0 Rscript run-tests.R tests/testthat) 2>&1 | tee "$tests_out" || true
line=$(grep -E '^r tests: [0-9]+ passed, [0-9]+ failed' "$tests_out" | tail -n 1 || true)
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | awk '{print $3}')))
    failed=$((failed + $(echo "$line" | awk '{print $5}')))
else
    failed=$((failed + 1))
    echo "FAILED: the testthat run printed no result line"
fi

echo "== examples/r/spc_refit.R"
status=0
(cd "$WORK" && Rscript "$ROOT/examples/r/spc_refit.R") || status=$?
step "$status" "examples/r/spc_refit.R"

echo "== R CMD check --no-manual"
status=0
(cd "$WORK" && env -u WAFERMON_SIDECAR_BIN -u WAFERMON_GATEWAY_BIN -u WAFERMON_CONFORMANCE_DIR \
    _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual "$TARBALL" > check.log 2>&1) || status=$?
grep -E "^(\* checking|Status:)" "$WORK/check.log" | grep -Ev "\.\.\. OK$" || true
if grep -Eq "^Status:.*(ERROR|WARNING)" "$WORK/check.log" || ! grep -q "^Status:" "$WORK/check.log"; then
    status=1
    cat "$WORK/check.log"
    cat "$WORK"/wafermon.Rcheck/00install.out 2>/dev/null | tail -n 30 || true
fi
step "$status" "R CMD check --no-manual: no ERROR, no WARNING"

echo "r: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
