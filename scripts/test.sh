#!/usr/bin/env bash
# Sets up and runs the test suite on a fresh machine (README's test command; CI runs it too).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
# mediapipe without its declared deps (jax, opencv-contrib); see requirements-nodeps.txt.
python -m pip install -q --no-deps -r requirements-nodeps.txt
# The browser test drives Debian's Chromium (no browser download); install it when missing.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
exec python -m pytest -q -p no:cacheprovider "$@"
