#!/usr/bin/env bash
# Installs everything tsmfs needs on a fresh Debian machine (run as root), then builds.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# libfuse2: fuse-native's binding links against it; fuse3: fusermount (and it does not
# conflict with Debian's MooseFS client the way the old 'fuse' package does).
# libfuse-dev, pkg-config, g++, make, python3: node-gyp builds our low-level FUSE binding.
# fio: benchmarks.
debs=(libfuse2 libfuse-dev fuse3 pkg-config g++ make python3 fio)
debs+=(rsync) # the mount tests run rsync -a into the mount
debs+=(chromium) # the web monitor's browser test (test/monitor-browser.test.ts, playwright-core)
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
# npm 11 runs no install scripts, so the native FUSE binding is built explicitly.
if [ -f packages/fuse/binding.gyp ]; then
  echo "setup: build the FUSE binding (node-gyp)"
  npm run build:native -w @tsmfs/fuse
fi
echo "setup: build"
npm run build
echo "setup: done"
