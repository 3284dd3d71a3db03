#!/usr/bin/env bash
# Installs the Debian packages the tests (or, with --bench, the benchmarks) need, when missing.
set -euo pipefail

packages=(postgresql redis-server chromium)
if [ "${1:-}" = "--bench" ]; then
  packages+=(prometheus-node-exporter)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "install-system-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
