#!/usr/bin/env bash
# Refreshes the dashboard's vendored front-end assets from the npm registry, at pinned versions.
# Run it, review the diff, commit. Nothing runs npm at build or start time.
set -euo pipefail

HTMX=2.0.11
UPLOT=1.6.32
PICO=2.1.1
QRCODE=2.0.4

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/src/fleetdeck/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

fetch() {  # package version -> unpacked into ./name
  local tarball
  tarball="$(npm pack --silent "$1@$2")"
  mkdir -p "$3" && tar -xzf "$tarball" -C "$3" --strip-components=1
}
fetch htmx.org "$HTMX" htmx
fetch uplot "$UPLOT" uplot
fetch @picocss/pico "$PICO" pico
fetch qrcode-generator "$QRCODE" qrcode

mkdir -p "$dest"
cp htmx/dist/htmx.min.js "$dest/htmx.min.js"
cp htmx/LICENSE "$dest/htmx.LICENSE"
cp uplot/dist/uPlot.iife.min.js "$dest/uPlot.iife.min.js"
cp uplot/dist/uPlot.min.css "$dest/uPlot.min.css"
cp uplot/LICENSE "$dest/uPlot.LICENSE"
cp pico/css/pico.min.css "$dest/pico.min.css"
cp pico/LICENSE.md "$dest/pico.LICENSE.md"
cp qrcode/dist/qrcode.js "$dest/qrcode.js"
# The package ships no licence file; its licence (MIT) and copyright are in the source header.
head -n 12 qrcode/dist/qrcode.js > "$dest/qrcode.LICENSE"
cat > "$dest/VERSIONS" <<VERSIONS
htmx.org $HTMX
uplot $UPLOT
@picocss/pico $PICO
qrcode-generator $QRCODE
VERSIONS
echo "vendored into $dest:"; ls -l "$dest"
