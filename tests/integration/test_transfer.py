"""`ipam events export` and `ipam events import`: lines an auditor reads alone, checked against
the JSON Schema in docs/; an import that stores every event exactly as it was or nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from infrastructure.audit import checkpoint
from infrastructure.store import Ipam, open_ipam
from infrastructure.transfer import ImportRefusedError, export, import_log
from tests.integration.test_projections import populate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "events-export.schema.json").read_text())
GOLDEN = ROOT / "tests" / "golden" / "0.2.0" / "events.jsonl"


def golden_lines() -> list[str]:
    return GOLDEN.read_text().splitlines()


def ipam_cli(*args: str, input: str | None = None, database_url: str) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False,
                              env={"IPAM_DATABASE_URL": database_url, "COLUMNS": "200"})


def test_every_export_line_follows_the_documented_schema(ipam: Ipam) -> None:
    populate(ipam.app)
    validator = jsonschema_rs.validator_for(SCHEMA)
    records = list(export(ipam))

    assert records
    for record in records:
        validator.validate(json.loads(json.dumps(record)))
    for line in golden_lines():
        validator.validate(json.loads(line))
    assert not validator.is_valid({**records[0], "format": 3})  # a reader refuses what it does not know


def test_a_changed_event_is_refused_naming_its_position_and_nothing_is_stored(sqlite_url: str) -> None:
    lines = golden_lines()
    record = json.loads(lines[40])
    record["state"] = record["state"].replace("golden", "g0lden", 1)
    assert record["state"] != json.loads(lines[40])["state"]
    tampered = [*lines[:40], json.dumps(record), *lines[41:]]
    target = open_ipam(sqlite_url)
    try:
        with pytest.raises(ImportRefusedError, match=f"hash chain breaks at position {record['position']} "
                                                     r"\(line 41\)"):
            import_log(target, tampered)
        assert checkpoint(target) == (0, "0" * 64)  # the store is still empty
        import_log(target, lines)  # and takes the true log afterwards
        assert checkpoint(target)[0] == json.loads(lines[-1])["position"]
    finally:
        target.close()


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda lines: [lines[0], lines[2], *lines[3:]], "hash chain breaks at position 3 (line 2)"),
    (lambda lines: [lines[0], lines[0], *lines[1:]], "line 2: position 1 does not follow position 1"),
    (lambda lines: [lines[0], lines[2], lines[1]], "hash chain breaks at position 3 (line 2)"),
    (lambda lines: ["not json", *lines], "line 1 is not JSON"),
    (lambda lines: [json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != "format"})],
     "line 1 is not an export line of format 2"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "format": 3})], "not an export line of format 2"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "topic": "os:system"})],
     "no class answers to the stored name 'os:system'"),
])
def test_a_broken_log_is_refused_with_a_reason(sqlite_url: str, mangle: Any, message: str) -> None:
    bad = mangle(golden_lines())
    target = open_ipam(sqlite_url)
    try:
        with pytest.raises(ImportRefusedError) as refused:
            import_log(target, bad)
        assert message in str(refused.value)
        assert checkpoint(target) == (0, "0" * 64)
    finally:
        target.close()


def test_a_line_of_format_2_without_its_stored_state_is_refused(sqlite_url: str) -> None:
    record = json.loads(golden_lines()[0])
    del record["state"]
    target = open_ipam(sqlite_url)
    try:
        with pytest.raises(ImportRefusedError, match="line 1 lacks state"):
            import_log(target, [json.dumps(record)])
    finally:
        target.close()


def test_import_from_a_file_shows_progress_and_the_checkpoint(sqlite_url: str, tmp_path: Path) -> None:
    last = json.loads(golden_lines()[-1])

    result = ipam_cli("events", "import", str(GOLDEN), database_url=sqlite_url)

    assert result.exit_code == 0, result.output
    assert "imported 82 events in " in result.stdout
    assert f"checkpoint {last['position']}:{last['hash']}" in result.stdout
    for phase in ("events", "projections"):
        assert phase in result.stderr
    checkpoint_line = ipam_cli("audit", "checkpoint", database_url=sqlite_url).stdout.strip()
    assert checkpoint_line == f"{last['position']}:{last['hash']}"
    again = ipam_cli("events", "import", str(GOLDEN), database_url=sqlite_url)
    assert again.exit_code == 1
    assert "import refused: the store holds 82 events already" in again.stderr


def test_import_of_a_missing_file_says_so(sqlite_url: str, tmp_path: Path) -> None:
    result = ipam_cli("events", "import", str(tmp_path / "nope.jsonl"), database_url=sqlite_url)

    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "nope.jsonl" in result.stderr


@pytest.mark.postgres
def test_export_piped_into_import_moves_sqlite_to_postgresql(
    tmp_path: Path, postgres_url: str,
) -> None:
    """The README's move, as a shell runs it: two processes and a pipe."""
    from tests.conftest import reset_postgres

    reset_postgres(postgres_url)
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source = open_ipam(source_url)
    try:
        populate(source.app)
        expected = checkpoint(source)
    finally:
        source.close()
    ipam = [str(Path(sys.executable).parent / "ipam")]
    exporter = subprocess.Popen([*ipam, "events", "export", "--database-url", source_url],
                                stdout=subprocess.PIPE, cwd=ROOT)
    importer = subprocess.run([*ipam, "events", "import", "-", "--database-url", postgres_url],
                              stdin=exporter.stdout, capture_output=True, text=True, cwd=ROOT,
                              timeout=300)
    assert exporter.stdout is not None
    exporter.stdout.close()
    assert exporter.wait(timeout=60) == 0
    assert importer.returncode == 0, importer.stderr
    assert f"checkpoint {expected[0]}:{expected[1]}" in importer.stdout
    moved = subprocess.run([*ipam, "audit", "verify", "--database-url", postgres_url],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"head {expected[0]}:{expected[1]}" in moved.stdout


def test_export_of_a_log_from_a_newer_release_stops_with_the_reason(sqlite_url: str) -> None:
    from sqlalchemy import update

    from application.context import RequestContext

    ipam = open_ipam(sqlite_url)
    try:
        ipam.app.create_network(context=RequestContext.new(actor="t"), network_id="n",
                                prefixes=["10.0.0.0/24"])
        table = ipam.app.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        with ipam.projection.engine.begin() as conn:
            conn.execute(update(table).where(table.c.topic == "Network.PrefixAdded")
                         .values(topic="Network.FromTheFuture"))
    finally:
        ipam.close()

    result = ipam_cli("events", "export", database_url=sqlite_url)

    assert result.exit_code == 1
    assert "export stopped: no class answers to the stored name 'Network.FromTheFuture'" in result.stderr
