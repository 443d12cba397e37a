#!/usr/bin/env bash
# Writes wafermon_0.1.0.tar.gz into the current folder: the R source package with everything
# its Rust half needs, so that it installs with no network:
#
#   r/build-tarball.sh
#   Rscript -e 'install.packages("wafermon_0.1.0.tar.gz", repos = NULL, type = "source")'
#
# R CMD build alone cannot ship a path crate, so this script:
#   1. copies r/ (without build leftovers) into a staging folder;
#   2. puts the core there as `cargo package` makes it (a plain copy would keep the
#      workspace's inherited keys, which no longer resolve outside the workspace), at
#      src/rust/wafermon-core, and points src/rust/Cargo.toml at it;
#   3. vendors every crates.io dependency into src/rust/vendor.tar.xz, with the cargo config
#      the Makevars uses to replace crates.io with it (src/rust/vendor-config.toml);
#   4. runs R CMD build on the staging folder.
# Needs cargo with the crates in its cache (after any build of the workspace) or network.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$PWD
cargo=${CARGO:-cargo}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

offline_first() {
    # Offline first: cargo's cache is enough once the workspace has been built.
    "$@" --offline 2>/dev/null || "$@"
}

pkg=$stage/wafermon
mkdir -p "$pkg"
tar -C "$here" --exclude=./src/rust/target --exclude=./src/rust/vendor \
    --exclude=./src/rust/wafermon-core --exclude='./src/Makevars' --exclude='./src/*.o' \
    --exclude='./src/*.so' --exclude='./*.tar.gz' -cf - . | tar -C "$pkg" -xf -

echo "build-tarball: packaging the core"
offline_first "$cargo" package --quiet --no-verify --allow-dirty \
    --manifest-path "$root/Cargo.toml" -p wafermon --target-dir "$stage/packaged"
crate=$(ls "$stage"/packaged/package/wafermon-[0-9]*.crate)
tar -xzf "$crate" -C "$pkg/src/rust"
mv "$pkg/src/rust/$(basename "$crate" .crate)" "$pkg/src/rust/wafermon-core"
# cargo's note of the commit it was packaged from: a hidden file R CMD check flags.
rm -f "$pkg/src/rust/wafermon-core/.cargo_vcs_info.json"
sed -i 's|path = "../../../core"|path = "wafermon-core"|' "$pkg/src/rust/Cargo.toml"
grep -q 'path = "wafermon-core"' "$pkg/src/rust/Cargo.toml" ||
    { echo "build-tarball: src/rust/Cargo.toml does not name ../../../core" >&2; exit 1; }

echo "build-tarball: vendoring the crates"
# Not --locked: when the core gains a dependency, the staged Cargo.lock takes it in (the
# tarball carries that lock, and the install builds with exactly it, offline).
(cd "$pkg/src/rust" &&
    offline_first "$cargo" vendor --quiet --versioned-dirs vendor > /dev/null)
# One archive: R CMD build would drop some of the crates' files (dot files, for one), and
# cargo checks every file against the crate's checksums.
tar -C "$pkg/src/rust" -cJf "$pkg/src/rust/vendor.tar.xz" vendor
rm -rf "$pkg/src/rust/vendor"
cat > "$pkg/src/rust/vendor-config.toml" <<'EOF'
# The cargo config of an offline build from vendor.tar.xz (src/Makevars fills in the folder).
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "@VENDOR@"

[net]
offline = true
EOF

echo "build-tarball: R CMD build"
(cd "$stage" && R CMD build --no-build-vignettes --no-manual wafermon > build.log 2>&1) ||
    { cat "$stage/build.log" >&2; exit 1; }
cp "$stage"/wafermon_*.tar.gz "$out/"
echo "build-tarball: wrote $out/$(cd "$stage" && ls wafermon_*.tar.gz)"
