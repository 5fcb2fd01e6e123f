#!/usr/bin/env bash
# Set up (once, and again when pyproject.toml changes) and run the IPAM service on the embedded
# default store: the SQLite file $XDG_DATA_HOME/ipam/ipam.db (else ~/.local/share/ipam/ipam.db).
# Extra arguments go to `ipam serve`, e.g. --port 9090.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/ipam ] || [ pyproject.toml -nt .venv/.installed-serve ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
  touch .venv/.installed-serve
fi
exec .venv/bin/ipam serve "$@"
