#!/usr/bin/env bash
# Provision a fresh Debian 12 machine for tinydit-gate: Debian packages (PyTorch side, the three browser
# engines, Xvfb), then the npm dependencies (onnxruntime-node's GPU download is skipped by .npmrc), then
# the browser page bundle. Safe to run again: apt and npm skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-torch python3-onnx python3-numpy python3-pil python3-pytest python3-pyflakes libopenblas0-openmp
  chromium firefox-esr webkit2gtk-driver xvfb xauth fonts-dejavu-core
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "setup: building the browser page"
npm run --silent build:web
echo "setup: done"
