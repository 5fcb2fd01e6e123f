"""Golden logs: what earlier releases wrote stays readable, importable and writable.

`tests/golden/<release>/` holds what a release wrote through `tests/golden/scenario.py` (every
kind of event: tokens and a revocation, supers, underlay, shared VRFs, children of both
families, IPs of both families, specific IPs, updates, frees, deletes, a re-created id, an
idempotent request) and the answers of reads after it:

- `0.1.0/ipam.db`: a store written by 0.1.0, which named events by module path
  (`domain.network:Network.IPAcquired`), kept idempotency records as events (in a module that has
  since moved: `domain.idempotency`, now `domain.legacy`) and encoded snapshots by position;
- `0.2.0/events.jsonl`: an export (format 2) written by 0.2.0, with stable names.

Each is loaded with this code, exported and imported into SQLite and PostgreSQL; the imported
store must hold the same checkpoint, pass `audit verify`, answer every read as the release did,
and take new writes. Every later change keeps this passing; new releases add their own directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.audit import checkpoint, verify
from infrastructure.store import Ipam, open_ipam
from infrastructure.transfer import ImportRefusedError, export, import_log
from tests.golden.scenario import PROJECT, reads

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden(release: str, name: str) -> Path:
    return GOLDEN / release / name


def expected_reads(release: str) -> dict[str, Any]:
    return json.loads(golden(release, "reads.json").read_text())  # type: ignore[no-any-return]


def secrets(release: str) -> dict[str, str]:
    return json.loads(golden(release, "secrets.json").read_text())  # type: ignore[no-any-return]


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[Ipam]:
    """0.1.0's store, copied: opened by this code as an upgrade would."""
    (tmp_path / "old").mkdir()
    shutil.copy(golden("0.1.0", "ipam.db"), tmp_path / "old" / "ipam.db")
    opened = open_ipam(f"sqlite:///{tmp_path / 'old' / 'ipam.db'}")
    yield opened
    opened.close()


def lines_of(ipam: Ipam) -> list[str]:
    return [json.dumps(record) for record in export(ipam)]


def assert_reads_and_writes(ipam: Ipam, release: str) -> None:
    """The imported store answers as the release did, and takes new writes with its tokens."""
    want = expected_reads(release)
    assert as_json(reads(ipam, secrets(release), want["moments"])) == want
    keys = secrets(release)
    with TestClient(create_app(ipam, follow=False)) as http:
        editor = {"Authorization": f"Bearer {keys['editor']}"}
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        assert http.get("/v1/network", headers={"Authorization": f"Bearer {keys['revoked']}"}
                        ).status_code == 401  # a revocation survives the move
        dual = next(n for n in want["networks"] if n["name"] == "dual")
        acquired = http.post("/v1/ip/allocate", json={"networkid": dual["id"], "projectid": PROJECT},
                             headers=editor)
        assert acquired.status_code == 201, acquired.text
        taken = {ip["ipaddress"] for ip in want["ips"]}
        assert acquired.json()["ipaddress"] not in taken
        v6 = http.post("/v1/ip/allocate", json={"networkid": dual["id"], "projectid": PROJECT,
                                                "addressfamily": "IPv6"}, headers=editor)
        assert v6.status_code == 201, v6.text
        assert v6.json()["ipaddress"] not in taken
        child = http.post("/v1/network/allocate", json={"partitionid": "mini-lab",
                                                        "projectid": PROJECT}, headers=editor)
        assert child.status_code == 201, child.text
        carved = {p for n in want["networks"] for p in n["prefixes"]}
        assert not set(child.json()["prefixes"]) & carved
        freed = http.delete(f"/v1/ip/free/{acquired.json()['ipaddress']}", headers=editor)
        assert freed.status_code == 200, freed.text
        shared = http.put("/v1/network", json={"id": "internet-3", "prefixes": ["185.1.9.0/24"],
                                               "vrf": 104009, "vrfshared": True}, headers=admin)
        assert shared.status_code == 201, shared.text  # the shared VRF is still shared
        exclusive = http.put("/v1/network", json={"id": "internet-4", "prefixes": ["185.1.10.0/24"],
                                                  "vrf": 104009}, headers=admin)
        assert exclusive.status_code == 409, exclusive.text
    assert verify(ipam).ok


def test_a_0_1_0_store_opens_verifies_and_answers_as_it_did(old_store: Ipam) -> None:
    report = verify(old_store)

    assert report.ok, report.differences
    assert report.events == 83
    want = expected_reads("0.1.0")
    assert as_json(reads(old_store, secrets("0.1.0"), want["moments"])) == want


def test_a_0_1_0_store_keeps_its_names_and_its_checkpoint(old_store: Ipam) -> None:
    """Module paths stay as they were stored (the chain hashes them); the export names the
    events by their stable types."""
    records = list(export(old_store))

    assert records[0]["topic"] == "domain.token:ApiToken.Issued"
    assert {(r["aggregate_type"], r["type"]) for r in records} >= {
        ("Network", "IPAcquired"), ("IdempotentRequest", "Recorded"), ("VrfPool", "VrfReserved")}
    assert all(r["event_version"] in (1, 2) for r in records)  # 0.1.0 stored no version but Recorded's
    assert (records[-1]["position"], records[-1]["hash"]) == checkpoint(old_store)
    moved = [r for r in records if r["topic"].startswith("domain.idempotency:")]
    assert moved and moved[0]["facts"]["credential"]  # read although its module moved


def test_a_0_1_0_store_moves_to_another_store_whole(old_store: Ipam, db_url: str) -> None:
    source = checkpoint(old_store)
    target = open_ipam(db_url)
    try:
        report = import_log(target, lines_of(old_store))

        assert (report.events, (report.head, report.head_hash)) == (83, source)
        assert checkpoint(target) == source
        assert verify(target).ok
        assert_reads_and_writes(target, "0.1.0")
    finally:
        target.close()


def test_the_0_2_0_export_imports_and_answers_as_it_did(db_url: str) -> None:
    lines = golden("0.2.0", "events.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    target = open_ipam(db_url)
    try:
        report = import_log(target, lines)

        assert (report.head, report.head_hash) == (last["position"], last["hash"])
        assert checkpoint(target) == (last["position"], last["hash"])
        assert verify(target).ok
        assert [json.loads(line) for line in lines_of(target)] == [json.loads(line) for line in lines]
        assert_reads_and_writes(target, "0.2.0")
    finally:
        target.close()


def test_stable_names_carry_no_module_path() -> None:
    records = [json.loads(line) for line in golden("0.2.0", "events.jsonl").read_text().splitlines()]

    assert all(":" not in r["topic"] and r["topic"] == f"{r['aggregate_type']}.{r['type']}"
               for r in records)
    assert all("domain." not in r["state"] for r in records)  # not in created events' state either
    assert all(r["event_version"] == 2 for r in records)


def test_a_second_import_into_the_same_store_is_refused(sqlite_url: str) -> None:
    lines = golden("0.2.0", "events.jsonl").read_text().splitlines()
    target = open_ipam(sqlite_url)
    try:
        import_log(target, lines)
        with pytest.raises(ImportRefusedError, match="holds 82 events already"):
            import_log(target, lines)
        assert checkpoint(target)[0] == 82
    finally:
        target.close()


def test_a_moved_module_keeps_its_events_readable(old_store: Ipam) -> None:
    """0.1.0 kept `IdempotentRequest` in `domain/idempotency.py`; that module is gone (the class
    lives in `domain/legacy.py`), and the events 0.1.0 stored under the old path still load,
    replay and export, with the stored name left exactly as it was."""
    import importlib.util

    from domain.legacy import IdempotentRequest

    assert importlib.util.find_spec("domain.idempotency") is None
    stored = [n for n in old_store.app.recorder.select_notifications(start=1, limit=1000)
              if n.topic.startswith("domain.idempotency:")]
    assert [n.topic for n in stored] == ["domain.idempotency:IdempotentRequest.Recorded"]
    record: IdempotentRequest = old_store.app.repository.get(UUID(str(stored[0].originator_id)))
    assert isinstance(record, IdempotentRequest) and record.key == "golden-dual"
    exported = [r for r in export(old_store) if r["position"] == stored[0].id]
    assert exported[0]["topic"] == stored[0].topic
    assert (exported[0]["aggregate_type"], exported[0]["type"]) == ("IdempotentRequest", "Recorded")
