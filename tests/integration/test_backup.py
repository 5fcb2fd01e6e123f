"""`ipam backup FILE` (issue 15, item 3): a consistent copy of a SQLite store taken while a live
server writes, which `ipam audit verify` passes and which holds exactly the acquisitions
acknowledged before the copy began (and none the server has not logged); refusals for
PostgreSQL, an existing file and a missing store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.live import ipam_serve

BIN = Path(sys.executable).parent
PROJECT = "project-backup"


def ipam(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real console script, as an operator runs it."""
    env = {**os.environ, "IPAM_DATABASE_URL": database_url}
    return subprocess.run([str(BIN / "ipam"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_backup_under_load_is_a_consistent_store_that_passes_audit_verify(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ipam.db'}"
    copy = tmp_path / "backups" / "ipam-copy.db"
    acknowledged: list[str] = []  # in the order the server answered
    stop = threading.Event()
    errors: list[BaseException] = []
    with ipam_serve(store, tmp_path) as live:
        with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as http:
            created = http.put("/v1/network", json={
                "id": "busy", "projectid": PROJECT, "prefixes": ["10.60.0.0/16", "2001:db8:60::/64"]})
            assert created.status_code == 201, created.text

            def load() -> None:
                try:
                    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as c:
                        while not stop.is_set():
                            answer = c.post("/v1/ip/allocate",
                                            json={"networkid": "busy", "projectid": PROJECT})
                            assert answer.status_code == 201, answer.text
                            acknowledged.append(answer.json()["ipaddress"])
                except BaseException as error:  # reported below
                    errors.append(error)

            writers = [threading.Thread(target=load) for _ in range(2)]
            for writer in writers:
                writer.start()
            while len(acknowledged) < 200:
                stop.wait(0.05)
            before = len(acknowledged)
            done = ipam("backup", str(copy), database_url=store, cwd=tmp_path)
            after = len(acknowledged)
            while len(acknowledged) < after + 100:  # the server goes on writing
                stop.wait(0.05)
            stop.set()
            for writer in writers:
                writer.join(timeout=60)
            assert not errors
            served = {ip["ipaddress"] for ip in http.get("/v1/ip").json()}
    assert done.returncode == 0, done.stderr
    found = re.search(r"events up to position (\d+)", done.stdout)
    assert found and copy.is_file(), done.stdout

    # the copy is a store: audit verify replays it and finds its read models true to its log
    copy_url = f"sqlite:///{copy}"
    verified = ipam("audit", "verify", database_url=copy_url, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "read models agree with the log" in verified.stdout
    listed = ipam("events", "export", database_url=copy_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    positions = [int(p) for p in re.findall(r'"position": ?(\d+)', listed.stdout)]
    assert positions and max(positions) == int(found.group(1))

    from infrastructure.store import open_ipam

    opened = open_ipam(copy_url)
    try:
        held = {ip["address"] for ip in opened.app.list_ips()}
    finally:
        opened.close()
    # everything acknowledged before the backup began is in it; nothing the server does not hold
    assert set(acknowledged[:before]) <= held <= served
    assert len(held) < len(served)  # and the server went on after it


def test_backup_refuses_postgresql_an_existing_file_and_a_missing_store(tmp_path: Path) -> None:
    refused = ipam("backup", str(tmp_path / "x.db"),
                   database_url="postgresql://postgres@127.0.0.1:5432/test", cwd=tmp_path)
    assert refused.returncode == 2
    assert "pg_dump" in refused.stderr and "ipam events export" in refused.stderr
    assert not (tmp_path / "x.db").exists()

    missing = ipam("backup", str(tmp_path / "x.db"),
                   database_url=f"sqlite:///{tmp_path / 'none' / 'ipam.db'}", cwd=tmp_path)
    assert missing.returncode == 2 and "no SQLite store" in missing.stderr

    store = f"sqlite:///{tmp_path / 'ipam.db'}"
    assert ipam("token", "list", database_url=store, cwd=tmp_path).returncode == 0  # a store
    target = tmp_path / "copy.db"
    target.write_text("an older backup")
    exists = ipam("backup", str(target), database_url=store, cwd=tmp_path)
    assert exists.returncode == 2 and "--force" in exists.stderr
    assert target.read_text() == "an older backup"
    forced = ipam("backup", str(target), "--force", database_url=store, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert ipam("audit", "checkpoint", database_url=f"sqlite:///{target}",
                cwd=tmp_path).returncode == 0
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
