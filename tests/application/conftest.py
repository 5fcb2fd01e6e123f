"""The use-case tests run on in-memory fakes of the ports (`tests/fakes.py`: fast), and again on
SQLite and PostgreSQL as integration tests (`-m integration`; `-m "not integration"` skips them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infrastructure.store import open_ipam
from tests.conftest import reset_postgres
from tests.fakes import MemoryIpam


@pytest.fixture(params=[
    "memory",
    pytest.param("sqlite", marks=pytest.mark.integration),
    pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
])
def ipam(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        memory = MemoryIpam()
        yield memory
        memory.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ipam.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
    opened = open_ipam(url)
    yield opened
    opened.close()
