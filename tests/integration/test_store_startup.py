"""Processes starting together on one new store: each makes the tables it finds missing and
switches a SQLite file to WAL mode, under a lock, so that none of them fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infrastructure.store import open_ipam
from tests.live import ROOT


def test_processes_opening_one_new_sqlite_file_at_once_all_start(tmp_path: Path) -> None:
    """Eight processes open a store that does not exist yet and write at once: none fails on
    making the tables or on switching the file to WAL mode."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = ("import sys; from infrastructure.store import open_ipam; "
            "from application.context import RequestContext; i = open_ipam(sys.argv[1]); "
            "i.tokens.bootstrap(RequestContext.new(actor='race')); i.close()")
    processes = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 8, errors
    opened = open_ipam(url)
    try:
        assert [t.subject for t in opened.tokens.list()] == ["admin"]
    finally:
        opened.close()
