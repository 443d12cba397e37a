#!/usr/bin/env bash
# Refreshes the dashboard's third-party JavaScript from the npm registry: uPlot (MIT), the
# charting library, vendored so the dashboard works on a fab network with no internet.
#   scripts/vendor-dashboard.sh [VERSION]
# Writes examples/gateway/dashboard/vendor/uplot/{uPlot.iife.min.js,uPlot.min.css,LICENSE,VERSION};
# the gateway embeds them at build time.
set -euo pipefail
version=${1:-1.6.32}
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/examples/gateway/dashboard/vendor/uplot"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$version" >/dev/null)
tar -xzf "$work/uplot-$version.tgz" -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
echo "uplot $version (npm)" > "$dest/VERSION"
echo "vendored uplot $version into ${dest#"$root"/}"
