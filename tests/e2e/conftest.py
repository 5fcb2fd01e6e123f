"""The CLI's tests: a real `ipam serve` on loopback per test module, and the `ipam` app invoked
in-process with `IPAM_API_URL` pointing at it (real HTTP, no fakes)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from tests.live import Live, ipam_serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of this module's own on a SQLite file; tests keep out of each other's way by
    using names of their own (`unique`)."""
    workdir = tmp_path_factory.mktemp("server")
    with ipam_serve(f"sqlite:///{workdir / 'ipam.db'}", workdir) as live:
        yield live


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


@dataclass
class Cli:
    """`ipam ...` against one server, as a user at a shell would run it (no terminal)."""

    url: str
    token: str | None = None

    def __call__(self, *args: str, input: str | None = None,
                 env: Mapping[str, str | None] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(app, list(args), input=input, catch_exceptions=False,
                             env={"IPAM_API_URL": self.url, "COLUMNS": "200", "NO_COLOR": "1",
                                  "IPAM_OUTPUT": None, "IPAM_TOKEN": self.token, **(env or {})})

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert result.stderr == "", result.stderr
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok(*args, "-o", "json", input=input).stdout)

    def fails(self, code: int, *args: str, input: str | None = None) -> str:
        """Run a command that must fail with `code`; its standard error, on one line."""
        result = self(*args, input=input)
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        return " ".join(result.stderr.replace("│", " ").split())


@pytest.fixture
def cli(server: Live) -> Cli:
    return Cli(server.url, server.token)


def table(stdout: str) -> list[list[str]]:
    """A table's lines split into cells (two or more spaces apart)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]
