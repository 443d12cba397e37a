#!/usr/bin/env bash
# Build libwafermon_jni (release) and put it where the jar takes it from:
#   java/native/build.sh OUTPUT_DIR  ->  OUTPUT_DIR/native/<os>-<arch>/libwafermon_jni.so
# Run by the Maven build (exec plugin, generate-resources). Cargo reuses what the workspace
# built before; CARGO_TARGET_DIR is honoured.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=mac ;;
  *) echo "build.sh: no native build for $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) arch=$(uname -m) ;;
esac
lib=libwafermon_jni.so
[ "$os" = mac ] && lib=libwafermon_jni.dylib
cargo build --release --manifest-path "$root/Cargo.toml" -p wafermon-jni
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$out/native/$os-$arch"
cp "$target/release/$lib" "$out/native/$os-$arch/$lib"
# The release profile keeps debug info for profiling; the jar needs none of it.
if command -v strip >/dev/null; then strip --strip-debug "$out/native/$os-$arch/$lib"; fi
echo "build.sh: $out/native/$os-$arch/$lib"
