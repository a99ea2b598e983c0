#!/usr/bin/env bash
# Installs everything tsmfs needs on a fresh Debian machine (run as root), then builds.
# Usage: scripts/setup.sh [--image]  (--image: without the test- and bench-only packages, for the Dockerfile)
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# scripts/debian-packages.txt lists every Debian package with what needs it; the image
# (Dockerfile: setup.sh --image) takes the ones the daemons, the mount and the build need.
roles='run|build|test|bench'
if [ "${1:-}" = "--image" ]; then roles='run|build'; fi
debs=()
while read -r line; do
  read -r name role _ <<<"${line%%#*}"
  if [[ -n "${name:-}" && "$role" =~ ^($roles)$ ]]; then debs+=("$name"); fi
done <scripts/debian-packages.txt
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install ${missing[*]} (run: sudo $0)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund
# npm 11 runs no install scripts, so the native FUSE binding is built explicitly, against
# the headers installed beside node when there are (Node's images and packages ship them)
# rather than headers node-gyp would download.
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_version.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi
if [ -f packages/fuse/binding.gyp ]; then
  echo "setup: build the FUSE binding (node-gyp)"
  npm run build:native -w @tsmfs/fuse
fi
echo "setup: build"
npm run build
echo "setup: done"
