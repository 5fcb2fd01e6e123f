"""The operator's and auditor's commands through the real `ipam` console script (a subprocess
with `IPAM_DATABASE_URL`), on SQLite and PostgreSQL: projections status, run and rebuild, the
audit commands and the export, and `--help` on every command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from application.context import RequestContext
from domain.network_values import NetworkAttributes
from infrastructure.store import open_ipam

IPAM = Path(sys.executable).parent / "ipam"  # the test run's own environment
PROJECTIONS = ("read_models", "history", "chain")
Status = dict[str, tuple[str, int, int, int, str]]  # name: live, position, head, lag, rebuilding


def ipam(db_url: str | None, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IPAM_DATABASE_URL"}
    env["COLUMNS"] = "200"  # one table row per line
    if db_url is not None:
        env["IPAM_DATABASE_URL"] = db_url
    return subprocess.run([str(IPAM), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def status(db_url: str, cwd: Path) -> Status:
    result = ipam(db_url, cwd, "projections", "status")
    assert result.returncode == 0, result.stderr
    rows: Status = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0] in PROJECTIONS:
            name, live, position, head, lag, rebuilding = cells[:6]  # then version, code changed
            rows[name] = (live, int(position), int(head), int(lag), rebuilding)
    assert set(rows) == set(PROJECTIONS), result.stdout
    return rows


def write_events(db_url: str, acquisitions: int) -> int:
    """Create a network and acquire addresses without reading (no projection catches up);
    returns the log's head."""
    opened = open_ipam(db_url)
    try:
        ctx = RequestContext.new(actor="operator")
        if "cli" not in {n["network_id"] for n in opened.app.list_networks()}:
            opened.app.create_network(
                context=ctx,
                network_id="cli",
                prefixes=["10.20.0.0/22"],
                attributes=NetworkAttributes(project_id="project-cli"),
            )
        for _ in range(acquisitions):
            opened.app.acquire_ip(context=ctx, network_id="cli", project_id="project-cli")
        return opened.projection.head()
    finally:
        opened.close()


@pytest.mark.parametrize(("command", "mentions"), [
    ([], ["serve", "projections", "audit", "events"]),
    (["serve"], ["Example: ipam serve", "--port", "--workers", "--database-url"]),
    (["projections"], ["run", "rebuild", "status"]),
    (["projections", "run"], ["Example: ipam projections run", "--once", "--interval"]),
    (["projections", "rebuild"], ["Example: ipam projections rebuild", "read_models, history or chain", "--restart"]),
    (["projections", "status"], ["Example: ipam projections status", "--database-url"]),
    (["audit"], ["verify", "checkpoint"]),
    (["audit", "verify"], ["Example: ipam audit verify", "--checkpoint"]),
    (["audit", "checkpoint"], ["Example: ipam audit checkpoint"]),
    (["events"], ["export"]),
    (["events", "export"], ["Example: ipam events export", "--since", "--until"]),
])
def test_help_describes_each_command(command: list[str], mentions: list[str], tmp_path: Path) -> None:
    result = ipam(None, tmp_path, *command, "--help")

    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith(" ".join(["Usage: ipam", *command]) + " [OPTIONS]"), lines[0]
    assert all(word in result.stdout for word in mentions), result.stdout
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "ipam" / "ipam.db").exists()  # help opens no store


def test_projections_status_and_run_once_show_and_close_the_lag(db_url: str, tmp_path: Path) -> None:
    head = write_events(db_url, 5)
    lagging = status(db_url, tmp_path)
    assert head > 5
    assert lagging["history"] == ("a", 0, head, head, "-")

    ran = ipam(db_url, tmp_path, "projections", "run", "--once")

    assert ran.returncode == 0, ran.stderr
    caught_up = dict(re.findall(r"(\w+) \+(\d+)", ran.stderr))
    assert caught_up == {"read_models": str(head), "history": str(head), "chain": str(head)}
    assert status(db_url, tmp_path) == {name: ("a", head, head, 0, "-") for name in PROJECTIONS}
    again = ipam(db_url, tmp_path, "projections", "run", "--once")
    assert re.findall(r"\+(\d+)", again.stderr) == ["0", "0", "0"]


def test_projections_rebuild_switches_named_or_every_projection(db_url: str, tmp_path: Path) -> None:
    head = write_events(db_url, 8)

    one = ipam(db_url, tmp_path, "projections", "rebuild", "read_models")

    assert one.returncode == 0, one.stderr
    assert re.search(rf"read_models: {head} events in .*, live slot b", one.stderr), one.stderr
    after = status(db_url, tmp_path)
    assert after["read_models"] == ("b", head, head, 0, "-")
    assert after["history"][0] == after["chain"][0] == "a"

    every = ipam(db_url, tmp_path, "projections", "rebuild")

    assert every.returncode == 0, every.stderr
    assert {name: row[0] for name, row in status(db_url, tmp_path).items()} == {
        "read_models": "a", "history": "b", "chain": "b"}
    verified = ipam(db_url, tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "read models agree with the log" in verified.stdout


def test_projections_rebuild_resumes_interrupted_rebuild_or_restarts(db_url: str, tmp_path: Path) -> None:
    head = write_events(db_url, 30)
    opened = open_ipam(db_url)
    try:
        opened.projection.rebuild_batch_size = 10

        def interrupt(position: int, head: int) -> None:
            if position > 0:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            opened.projection.rebuild(progress=interrupt)
    finally:
        opened.close()
    assert status(db_url, tmp_path)["read_models"][4] == "slot b at 10"

    resumed = ipam(db_url, tmp_path, "projections", "rebuild", "read_models")
    assert re.search(rf"read_models: {head - 10} events .*, live slot b", resumed.stderr), resumed.stderr

    restarted = ipam(db_url, tmp_path, "projections", "rebuild", "read_models", "--restart")
    assert re.search(rf"read_models: {head} events .*, live slot a", restarted.stderr), restarted.stderr
    assert status(db_url, tmp_path)["read_models"] == ("a", head, head, 0, "-")


def test_projections_rebuild_exits_two_for_unknown_projection(db_url: str, tmp_path: Path) -> None:
    write_events(db_url, 1)

    result = ipam(db_url, tmp_path, "projections", "rebuild", "nope")

    assert result.returncode == 2
    assert "unknown projection 'nope'; known: read_models, history, chain" in result.stderr
    assert all(row[0] == "a" for row in status(db_url, tmp_path).values())


def test_audit_checkpoint_verify_and_export_agree_through_console_script(
    db_url: str, tmp_path: Path,
) -> None:
    head = write_events(db_url, 3)

    checkpoint = ipam(db_url, tmp_path, "audit", "checkpoint")
    verified = ipam(db_url, tmp_path, "audit", "verify", "--checkpoint", checkpoint.stdout.strip())
    exported = ipam(db_url, tmp_path, "events", "export")
    since = ipam(db_url, tmp_path, "events", "export", "--since", str(head - 1))

    assert checkpoint.returncode == verified.returncode == exported.returncode == 0, verified.stdout
    position, head_hash = checkpoint.stdout.strip().split(":")
    assert int(position) == head
    assert f"checkpoint {head}:{head_hash} holds" in verified.stdout
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["position"] for line in lines] == list(range(1, head + 1))
    assert lines[-1]["hash"] == head_hash
    assert [json.loads(line) for line in since.stdout.splitlines()] == lines[-1:]
    malformed = ipam(db_url, tmp_path, "audit", "verify", "--checkpoint", "latest")
    assert malformed.returncode == 2 and "--checkpoint must be POSITION:HASH" in malformed.stderr



# one default store, wherever a command runs (issue 12) --------------------------------------------

def local(cwd: Path, xdg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A local command as a user runs it: no database URL, a data directory of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("IPAM_DATABASE_URL", "IPAM_DATA_DIR")}
    env.update(COLUMNS="200", XDG_DATA_HOME=str(xdg))
    return subprocess.run([str(IPAM), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_every_local_command_uses_one_default_store_wherever_it_runs(tmp_path: Path) -> None:
    xdg, here, there = tmp_path / "xdg", tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()

    created = local(here, xdg, "token", "create", "--subject", "alice", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    listed = local(there, xdg, "token", "list")
    verified = local(there, xdg, "audit", "verify")

    assert "alice" in listed.stdout, listed.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (xdg / "ipam" / "ipam.db").exists()
    assert not any(p.name == "data" for p in (*here.iterdir(), *there.iterdir()))
    help_text = local(there, xdg, "audit", "verify", "--help").stdout
    assert f"(default: the SQLite file {xdg / 'ipam' / 'ipam.db'})" in help_text, help_text


def test_audit_verify_on_an_empty_store_says_so(tmp_path: Path) -> None:
    result = local(tmp_path, tmp_path / "xdg", "audit", "verify")

    assert result.returncode == 1
    assert "holds no events: nothing to verify" in result.stdout
    assert str(tmp_path / "xdg" / "ipam" / "ipam.db") in result.stdout


def test_serve_prints_the_store_it_serves(tmp_path: Path) -> None:
    from tests.live import free_port

    env = {k: v for k, v in os.environ.items() if k not in ("IPAM_DATABASE_URL", "IPAM_DATA_DIR")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    process = subprocess.Popen([str(IPAM), "serve", "--port", str(free_port())], cwd=tmp_path,
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert first.strip() == f"ipam: store sqlite:///{tmp_path / 'xdg' / 'ipam' / 'ipam.db'}"


def test_version_names_the_release(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = ipam(None, tmp_path, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ipam {version('dualstack-ipam')}\n"
