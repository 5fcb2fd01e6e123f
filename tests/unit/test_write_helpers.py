"""The small parts of issue 14's write path: statements on the driver's connection, the
event-loop executor, and the settings that choose the write path."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, select
from sqlalchemy.orm import Session

from infrastructure import driver
from infrastructure.loop import LoopExecutor
from infrastructure.settings import Settings

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True),
              Column("name", String(20), nullable=False))
NEWEST = select(items.c.name).where(items.c.id < bindparam("below")).order_by(
    items.c.id.desc()).limit(1)


def test_driver_statements_run_in_the_sessions_transaction(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        driver.execute_many(session, items.insert(), [{"id": n, "name": f"n{n}"} for n in range(5)])
        # a LIMIT's own value is passed with the caller's parameters
        assert driver.scalar(session, NEWEST, {"below": 3}) == "n2"
        assert driver.first_row(session, NEWEST, {"below": 0}) is None
        assert driver.rowcount(session, items.update().where(items.c.id >= bindparam("low"))
                               .values(name="big"), {"low": 3}) == 2
        assert driver.all_rows(session, select(items.c.name).order_by(items.c.id)) == [
            ("n0",), ("n1",), ("n2",), ("big",), ("big",)]
        session.rollback()  # nothing was committed: the driver used the session's transaction
    with engine.connect() as conn:
        assert conn.execute(select(items)).all() == []
    engine.dispose()


def test_loop_executor_runs_calls_on_the_loops_thread_and_hands_back_errors() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    try:
        executor = LoopExecutor(loop)
        assert executor.submit(threading.get_ident).result(timeout=5) == runner.ident
        assert not executor.runs_here()
        failing = executor.submit(int, "not a number")
        with pytest.raises(ValueError, match="invalid literal"):
            failing.result(timeout=5)
        assert executor.submit(lambda: executor.runs_here()).result(timeout=5) is True
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=5)
        loop.close()
    # a closed loop cannot take calls: they run on the caller's thread
    assert executor.submit(threading.get_ident).result(timeout=5) == threading.get_ident()


@pytest.mark.parametrize(("name", "value"), [
    ("IPAM_INLINE_PROJECTIONS", "maybe"), ("IPAM_WRITER_THREADS", "-1"),
    ("IPAM_WRITER_THREADS", "65"), ("IPAM_WRITER_THREADS", "four"),
])
def test_write_path_settings_refuse_what_they_cannot_mean(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Settings.from_env("sqlite:///:memory:")


def test_write_path_settings_default_and_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPAM_INLINE_PROJECTIONS", raising=False)
    monkeypatch.delenv("IPAM_WRITER_THREADS", raising=False)
    default = Settings.from_env("sqlite:///:memory:")
    assert (default.inline_projections, default.writer_threads) == (False, 4)
    monkeypatch.setenv("IPAM_INLINE_PROJECTIONS", "1")
    monkeypatch.setenv("IPAM_WRITER_THREADS", "8")
    given = Settings.from_env("sqlite:///:memory:")
    assert (given.inline_projections, given.writer_threads) == (True, 8)
