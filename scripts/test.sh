#!/usr/bin/env bash
# Set up (once) and run the whole test suite. PostgreSQL tests use IPAM_TEST_POSTGRES_URL
# (default postgresql://postgres@127.0.0.1:5432/test); they are skipped when it is unreachable,
# unless IPAM_REQUIRE_POSTGRES=1 (as in CI). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".[test]"
  touch .venv/.installed
fi
exec .venv/bin/python -m pytest -n 2 "$@"
