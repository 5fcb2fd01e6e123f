"""Projections rebuilt on upgrade when their code changed (`Ipam.upgrade_projections`), on SQLite
and PostgreSQL.

A code change is simulated by raising a projection class's `version`, as a release that changes
its fold or its tables does. The stores here follow the log rather than project inline, as in
test_projections.py, whose log (`populate`) and comparisons they reuse.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Column, MetaData, Table, Text, create_engine, inspect, select, text
from typer.testing import CliRunner, Result

from api.cli import app as cli
from infrastructure import locks, store
from infrastructure.chain import ChainProjection
from infrastructure.history import HistoryProjection
from infrastructure.projection import ReadModelProjection
from infrastructure.store import Ipam, open_ipam
from infrastructure.tables import read_model_tables, versions
from tests.integration.test_projections import (
    Interrupted,
    Rows,
    acquire_some,
    all_slots,
    documents,
    interrupt_after_first_batch,
    populate,
    slot_rows,
)
from tests.live import BIN, admin_token, bearer, free_port, stop, wait_healthy

CLASSES: dict[str, Any] = {
    "read_models": ReadModelProjection, "history": HistoryProjection, "chain": ChainProjection}
NAMES = tuple(CLASSES)


@dataclass(frozen=True)
class Populated:
    """A store at version 1 of every projection, its live slots caught up, and what it answered."""

    url: str
    head: int
    documents: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    rows: dict[str, Rows]


@pytest.fixture
def populated(db_url: str) -> Populated:
    opened = open_ipam(db_url, inline_projections=False)
    try:
        populate(opened.app)
        rows = all_slots(opened)
        return Populated(db_url, opened.projection.head(), documents(opened.app), rows)
    finally:
        opened.close()


OpenStore = Callable[[str], Ipam]


@pytest.fixture
def open_store() -> Iterator[OpenStore]:
    """Opens the IPAM on a store (following the log, several batches per rebuild), as a process
    of the new code starting; closed at the end."""
    opened: list[Ipam] = []

    def open_(url: str) -> Ipam:
        ipam = open_ipam(url, inline_projections=False)
        for projector in ipam.projectors.values():
            projector.batch_size = projector.rebuild_batch_size = 7
        opened.append(ipam)
        return ipam

    yield open_
    for ipam in opened:
        ipam.close()


def bump(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """The code of these projections changed: one version up."""
    for name in names:
        monkeypatch.setattr(CLASSES[name], "version", CLASSES[name].version + 1)


def stored_versions(url: str) -> dict[tuple[str, str], int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {(row.projection, row.slot): row.version for row in conn.execute(select(versions))}
    finally:
        engine.dispose()


def live_slots(ipam: Ipam) -> dict[str, str]:
    return {name: projector.live_slot() for name, projector in ipam.projectors.items()}


def outdated(ipam: Ipam) -> set[str]:
    return {name for name, projector in ipam.projectors.items() if projector.outdated()}


def test_a_new_store_records_the_code_version_of_both_slots_and_needs_no_upgrade(
    db_url: str, open_store: OpenStore,
) -> None:
    ipam = open_store(db_url)

    assert stored_versions(db_url) == {(name, slot): 1 for name in NAMES for slot in "ab"}
    assert outdated(ipam) == set()
    for status in (projector.status() for projector in ipam.projectors.values()):
        assert (status.version, status.code_version, status.code_changed) == (1, 1, False)
    assert ipam.upgrade_projections() == []
    assert live_slots(ipam) == dict.fromkeys(NAMES, "a")


def test_upgrade_rebuilds_exactly_the_projections_whose_code_changed(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bump(monkeypatch, "read_models", "history")
    ipam = open_store(populated.url)
    assert outdated(ipam) == {"read_models", "history"}
    caplog.set_level(logging.INFO, logger=store.__name__)

    rebuilt = ipam.upgrade_projections()

    assert rebuilt == ["read_models", "history"]
    assert live_slots(ipam) == {"read_models": "b", "history": "b", "chain": "a"}
    assert stored_versions(populated.url) == {
        ("read_models", "a"): 1, ("read_models", "b"): 2, ("history", "a"): 1,
        ("history", "b"): 2, ("chain", "a"): 1, ("chain", "b"): 1}
    assert [(s.version, s.code_version, s.code_changed)
            for s in (p.status() for p in ipam.projectors.values())] == [
        (2, 2, False), (2, 2, False), (1, 1, False)]
    assert documents(ipam.app) == populated.documents
    assert all_slots(ipam) == populated.rows
    records = [r for r in caplog.records if r.name == store.__name__]
    assert [(r.levelno, r.getMessage().split()[1]) for r in records] == [
        (logging.INFO, "read_models"), (logging.INFO, "history")]
    assert all(f"(version 2, built by 1): {populated.head} events in " in r.getMessage()
               and r.getMessage().endswith(" s, live slot b") for r in records)

    assert ipam.upgrade_projections() == []
    assert open_store(populated.url).upgrade_projections() == []  # the next process's start
    assert live_slots(ipam) == {"read_models": "b", "history": "b", "chain": "a"}


def test_upgrade_drops_and_creates_spare_tables_whose_columns_changed(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ips = read_model_tables("b").ips
    old = Table(  # the spare table as older code created it: no `machine_id`, a column since dropped
        ips.name, MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
          for c in ips.columns if c.name != "machine_id"),
        Column("legacy", Text, nullable=False),
    )
    ipam = open_store(populated.url)
    with ipam.projection.engine.begin() as conn:
        ips.drop(conn)
        old.create(conn)
    bump(monkeypatch, "read_models")

    assert ipam.upgrade_projections() == ["read_models"]

    shape = inspect(ipam.projection.engine)
    assert [c["name"] for c in shape.get_columns(ips.name)] == [c.name for c in ips.columns]
    assert {i["name"] for i in shape.get_indexes(ips.name)} == {i.name for i in ips.indexes}
    assert documents(ipam.app) == populated.documents
    assert all_slots(ipam) == populated.rows


def test_a_store_whose_live_tables_lack_a_column_an_index_now_needs_still_opens_and_upgrades(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """New code may index a column the live tables of the old code lack: opening the store must
    not try to build that index (it cannot), the upgrade's rebuild builds it."""
    ips = read_model_tables("a").ips
    old = Table(  # the live table as older code created it: no `project_id`, none of its indexes
        ips.name, MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
          for c in ips.columns if c.name != "project_id"),
    )
    engine = create_engine(populated.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        ips.drop(conn)
        old.create(conn)
    engine.dispose()
    bump(monkeypatch, "read_models")

    ipam = open_store(populated.url)  # the new code's first start: no error
    assert ipam.upgrade_projections() == ["read_models"]

    live = read_model_tables(ipam.projection.live_slot()).ips
    shape = inspect(ipam.projection.engine)
    assert {i["name"] for i in shape.get_indexes(live.name)} == {i.name for i in live.indexes}
    assert documents(ipam.app) == populated.documents


def test_store_written_by_0_3_0_without_versions_is_rebuilt_once(
    populated: Populated, open_store: OpenStore,
) -> None:
    engine = create_engine(populated.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {versions.name}"))  # 0.3.0 had no such table
    engine.dispose()
    ipam = open_store(populated.url)  # creates it, with no rows: the versions are unknown

    assert outdated(ipam) == set(NAMES)
    assert all((s.version, s.code_version, s.code_changed) == (None, 1, True)
               for s in (p.status() for p in ipam.projectors.values()))

    assert ipam.upgrade_projections() == list(NAMES)

    assert live_slots(ipam) == dict.fromkeys(NAMES, "b")
    assert stored_versions(populated.url) == {(name, "b"): 1 for name in NAMES}
    assert documents(ipam.app) == populated.documents
    assert all_slots(ipam) == populated.rows
    assert ipam.upgrade_projections() == []
    assert open_store(populated.url).upgrade_projections() == []
    assert live_slots(ipam) == dict.fromkeys(NAMES, "b")


def test_a_fresh_store_opened_by_new_code_needs_no_upgrade(
    db_url: str, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bump(monkeypatch, *NAMES)
    ipam = open_store(db_url)
    populate(ipam.app)

    assert ipam.upgrade_projections() == []
    assert stored_versions(db_url) == {(name, slot): 2 for name in NAMES for slot in "ab"}
    assert live_slots(ipam) == dict.fromkeys(NAMES, "a")


def test_interrupted_upgrade_resumes_where_it_stopped_at_the_next_start(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bump(monkeypatch, "read_models")
    ipam = open_store(populated.url)
    projector = ipam.projection
    with pytest.raises(Interrupted):
        projector.upgrade(progress=interrupt_after_first_batch)
    status = projector.status()
    assert (status.live, status.rebuilding, status.rebuild_position) == ("a", "b", 7)
    assert status.code_changed and outdated(ipam) == {"read_models"}
    assert stored_versions(populated.url)[("read_models", "b")] == 2  # the rebuild's code
    assert documents(ipam.app) == populated.documents  # served from the old slot meanwhile
    more = acquire_some(ipam.app, "plain", 3)  # the log grows before the next start
    seen: list[tuple[str, int]] = []

    rebuilt = open_store(populated.url).upgrade_projections(
        progress=lambda name, position, head: seen.append((name, position)))

    assert rebuilt == ["read_models"]
    assert seen[0] == ("read_models", 7)  # resumed, not started over
    assert (projector.live_slot(), projector.status().rebuilding, outdated(ipam)) == ("b", None, set())
    assert set(more) <= {ip["address"] for ip in ipam.app.list_ips()}
    resumed = slot_rows(projector, "b")
    projector.rebuild()  # from scratch into slot a: the same rows, no event applied twice
    assert slot_rows(projector, "a") == resumed


def test_rebuild_begun_by_older_code_starts_over_on_upgrade(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = open_store(populated.url)
    with pytest.raises(Interrupted):
        old.projection.rebuild(progress=interrupt_after_first_batch)
    assert old.projection.status().rebuilding == "b"
    bump(monkeypatch, "read_models")
    seen: list[tuple[str, int]] = []

    rebuilt = open_store(populated.url).upgrade_projections(
        progress=lambda name, position, head: seen.append((name, position)))

    assert rebuilt == ["read_models"]
    assert seen[0] == ("read_models", 0)
    assert stored_versions(populated.url)[("read_models", "b")] == 2
    assert old.projection.live_slot() == "b"
    assert documents(old.app) == populated.documents
    assert all_slots(old) == populated.rows


def test_an_upgrade_waiting_for_the_lock_finds_nothing_left_to_do(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bump(monkeypatch, "read_models")
    first, second = open_store(populated.url), open_store(populated.url)
    lock = locks.upgrade_lock
    waiting = threading.Event()

    def announced(url: str) -> AbstractContextManager[None]:
        waiting.set()
        return lock(url)

    monkeypatch.setattr(store, "upgrade_lock", announced)
    results: list[list[str]] = []
    with lock(first.settings.database_url):  # the first process's turn
        thread = threading.Thread(target=lambda: results.append(second.upgrade_projections()))
        thread.start()
        assert waiting.wait(timeout=30)  # the second found the projection outdated, and waits
        assert first.projection.upgrade() == populated.head
    thread.join(timeout=60)

    assert results == [[]]
    assert first.projection.live_slot() == "b"  # switched once
    assert outdated(second) == set()


def upgrade_in_process(url: str, bumped: dict[str, int], start: Any, results: Any) -> None:
    """A process of the new code starting on the store: open it, then upgrade together with
    the other processes (`start`, a barrier); puts the names it rebuilt, or its traceback."""
    try:
        for name, version in bumped.items():
            CLASSES[name].version = version
        opened = open_ipam(url, inline_projections=False)
        try:
            start.wait(timeout=120)
            results.put(opened.upgrade_projections())
        finally:
            opened.close()
    except BaseException:
        results.put(traceback.format_exc())
        raise


def test_two_processes_upgrading_together_rebuild_each_projection_once(
    populated: Populated, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bumped = {"read_models": 2, "chain": 2}
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=upgrade_in_process,
                                 args=(populated.url, bumped, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    try:
        rebuilt = [results.get(timeout=180) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
    assert all(isinstance(names, list) for names in rebuilt), rebuilt
    assert [process.exitcode for process in processes] == [0, 0]
    assert sorted(name for names in rebuilt for name in names) == ["chain", "read_models"]

    bump(monkeypatch, *bumped)
    ipam = open_store(populated.url)
    assert outdated(ipam) == set()
    assert live_slots(ipam) == {"read_models": "b", "history": "a", "chain": "b"}
    assert documents(ipam.app) == populated.documents
    assert all_slots(ipam) == populated.rows
    for name in bumped:  # what a rebuild from scratch gives
        projector = ipam.projectors[name]
        upgraded = slot_rows(projector, "b")
        projector.rebuild()
        assert slot_rows(projector, "a") == upgraded


def status_rows(result: Result) -> dict[str, list[str]]:
    """`ipam projections status`: each projection's cells after its name."""
    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[1].split("┃")[1:-1]]
    assert header == ["projection", "live slot", "position", "head", "lag", "rebuilding",
                      "version", "code changed"], result.stdout
    rows = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0] in NAMES:
            rows[cells[0]] = cells[1:]
    assert set(rows) == set(NAMES), result.stdout
    return rows


def test_projections_status_shows_whether_the_code_changed_and_run_rebuilds_it(
    populated: Populated, monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner(env={"IPAM_DATABASE_URL": populated.url, "COLUMNS": "200"})
    bump(monkeypatch, "history")
    head = str(populated.head)

    before = status_rows(runner.invoke(cli, ["projections", "status"]))
    ran = runner.invoke(cli, ["projections", "run", "--once"])
    after = status_rows(runner.invoke(cli, ["projections", "status"]))

    assert before == {
        "read_models": ["a", head, head, "0", "-", "1", "no"],
        "history": ["a", head, head, "0", "-", "1", "yes"],
        "chain": ["a", head, head, "0", "-", "1", "no"],
    }
    assert ran.exit_code == 0, ran.output
    assert "rebuilding the projections whose code changed: history" in ran.stderr
    assert "rebuilt: history" in ran.stderr
    assert after == {**before, "history": ["b", head, head, "0", "-", "2", "no"]}


def test_ipam_serve_rebuilds_projections_whose_code_changed_before_it_answers(
    populated: Populated, tmp_path: Any,
) -> None:
    """The upgrade as an operator makes it: a store of the earlier release (no versions), then
    `ipam serve` of this one (two server processes on PostgreSQL). It logs one line per
    projection rebuilt, once, and its first answers come from the rebuilt tables."""
    workers = 2 if populated.url.startswith("postgresql") else 1
    engine = create_engine(populated.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {versions.name}"))
    engine.dispose()
    token = admin_token(populated.url)  # opens the store: versions still unknown
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "IPAM_DATABASE_URL": populated.url}
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--workers", str(workers),
         "--log-level", "info"], cwd=tmp_path, env=env, start_new_session=True,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        networks = httpx.get(f"{url}/v1/network", headers=bearer(token), timeout=30)
        assert networks.status_code == 200
        assert sorted(n["id"] for n in networks.json()) \
            == sorted(d["network_id"] for d in populated.documents[0])
    finally:
        stop(process)
    text_ = log.read_text()
    for name in NAMES:
        lines = [line for line in text_.splitlines()
                 if f"projection {name} rebuilt because its code changed" in line]
        assert len(lines) == 1, text_
        assert "(version 1, built by unknown)" in lines[0]
    assert "Traceback" not in text_
    assert stored_versions(populated.url) == {(name, "b"): 1 for name in NAMES}
