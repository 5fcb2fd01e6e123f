"""The command line starts quickly because it imports only what a command uses: its start-up is
measured in bench/cli_startup.py (tests never assert time); here, which modules get imported.

Through the real console script with Python's import profile (`PYTHONPROFILEIMPORTTIME`): a
client command's help and a completion import neither the server nor the store, nor the HTTP
client or YAML they do not use."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.live import BIN

# the server, the store, the domain, and the libraries only some commands need
HEAVY = ("domain", "application", "api.app", "sqlalchemy", "eventsourcing", "fastapi", "uvicorn",
         "starlette", "pydantic", "yaml", "httpx")


def imported(*args: str, **env: str) -> set[str]:
    """The modules `ipam ARGS` imports, from Python's own import profile."""
    done = subprocess.run([str(BIN / "ipam"), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1", **env}, check=False)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert len(modules) > 50, done.stderr[-2000:]  # the profile was read
    return modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)


@pytest.mark.parametrize("args", [
    ("--version",),
    ("network", "list", "--help"),
    ("network", "ip", "create", "--help"),
    ("history", "ip", "--help"),
    ("token", "list", "--help"),
])
def test_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    assert heavy(imported(*args)) == []


def test_completion_of_commands_imports_nothing_heavy() -> None:
    modules = imported(_IPAM_COMPLETE="complete_bash", COMP_WORDS="ipam net", COMP_CWORD="1")
    assert "typer" in modules and heavy(modules) == []


def test_a_client_command_imports_the_http_client_but_not_the_server_or_the_store() -> None:
    modules = imported("network", "list", IPAM_API_URL="http://127.0.0.1:9", IPAM_RETRIES="0")
    assert "httpx" in modules
    assert [m for m in heavy(modules) if not m.startswith("httpx")] == []


def test_a_local_command_still_finds_the_store() -> None:
    """The lazy imports are there when a command needs them."""
    modules = imported("audit", "checkpoint", IPAM_DATABASE_URL="sqlite:///:memory:")
    assert {"sqlalchemy", "eventsourcing", "infrastructure.store"} <= modules
