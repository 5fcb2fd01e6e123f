#!/usr/bin/env bash
# Set up (once) and run the IPAM service on the embedded default store (SQLite under ./data).
# Extra arguments go to `ipam serve`, e.g. --port 9090.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/ipam ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
exec .venv/bin/ipam serve "$@"
