"""`POST /v1/ip/allocate` under wrk, against `ipam serve` started as a new user starts it.

One run measures, side by side on this machine:
  - the ceiling: a do-nothing FastAPI app of the same request/response shape
    (bench/noop_app.py, served with the same uvicorn settings), 1 connection; its `async def`
    route is the ceiling, its sync variant (the thread pool hop the service's routes take) is
    printed for reference;
  - SQLite, `ipam serve --port P`: 1 connection on one network (rate and p99), then
    4 connections on 4 networks (one network per connection);
  - PostgreSQL (scratch database), `ipam serve --port P --workers 2`: 4 connections on 4 networks;
  - the raw commit loop on the same PostgreSQL (bench/raw_commits.py: one psycopg connection,
    INSERT + COMMIT), and on SQLite for reference.
It prints a table with each figure, the ratios and PASS/MISS against the goals. The load is
wrk (a C client, installed with apt-get when missing) with bench/wrk/allocate.lua. Every run is
checked: the answers that are not 201 and wrk's socket errors are counted, and a run with any of
them is flagged (exit status 1). A program, not a test.

    .venv/bin/python bench/wrk_alloc.py [--duration 10] [--quick] [--sqlite-only] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import load, postgres_scratch, say
from raw_commits import postgres_commits, sqlite_commits

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LUA = BENCH / "wrk" / "allocate.lua"
IPAM = Path(sys.executable).parent / "ipam"  # the console script a new user runs
SCRATCH_DB = "ipam_bench_wrk"
PROJECT = "bench-project"
NETWORKS = [f"bench-net-{n}" for n in range(1, 5)]
GOALS = {"ceiling": 0.35, "p99_ms": 10.0, "scaling": 1.0, "raw": 0.4}


@dataclass(frozen=True)
class Load:
    """One wrk run: its figures and checks."""

    label: str
    connections: int
    created: int
    other: int
    statuses: dict[str, int]
    sample: str | None
    socket_errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    per_connection: list[int]
    server_cpu_ms: float  # CPU of the server's processes per request
    client_cpu_ms: float  # CPU of wrk per request

    @property
    def rate(self) -> float:
        """201 answers per second."""
        return self.created / self.seconds

    @property
    def clean(self) -> bool:
        return self.other == 0 and self.socket_errors == 0 and self.created > 0

    def checks(self) -> str:
        if self.clean:
            return f"{self.created:,} x 201"
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (f"FLAGGED {self.created:,} x 201, {self.other:,} other ({statuses}), "
                f"{self.socket_errors} socket errors; first: {self.sample}").replace("|", "\\|")


# -- processes -------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk missing: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install")
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(group: int) -> float:
    """User + system CPU so far of every live process in the process group `group`."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields from the state on: state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """Start a server in its own process group; yield its URL and group once /v1/health answers
    (any status: the service asks for a token there); stop the whole group afterwards."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen([*argv, "--port", str(port)], cwd=log.parent, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                httpx.get(f"{url}/v1/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer in 120 s:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for _ in range(50):  # workers outliving their supervisor
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(process.pid, signal.SIGKILL)


# -- the store and the load ------------------------------------------------------------------


def admin_token(database_url: str) -> str:
    """Issue an admin token into the store (as tests/live.py does), before the server starts."""
    from application.context import RequestContext
    from infrastructure.store import open_ipam

    opened = open_ipam(database_url)
    try:
        _, secret = opened.tokens.issue(context=RequestContext.new(actor="bench"),
                                        subject="bench-admin", role="admin")
        return secret
    finally:
        opened.close()


def create_networks(url: str, token: str) -> None:
    """Four /16 + /64 networks through the API, and one acquisition from each (a warm cache)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for n, network in enumerate(NETWORKS, start=1):
            created = client.put("/v1/network", json={
                "id": network, "name": network, "partitionid": "bench", "projectid": PROJECT,
                "prefixes": [f"10.{n}.0.0/16", f"2001:db8:{n}::/64"]})
            if created.status_code != 201:
                raise RuntimeError(f"PUT /v1/network {network}: {created.status_code} {created.text}")
        for network in NETWORKS:
            for _ in range(3):
                answer = client.post("/v1/ip/allocate",
                                     json={"networkid": network, "projectid": PROJECT})
                if answer.status_code != 201:
                    raise RuntimeError(f"allocate on {network}: {answer.status_code} {answer.text}")


def run_wrk(wrk: str, label: str, url: str, group: int, token: str, networks: Sequence[str],
            seconds: float, logs: Path) -> Load:
    """wrk with one connection per thread on `networks` (thread n on network n)."""
    connections = len(networks)
    argv = [wrk, f"-t{connections}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
            "--timeout", "30s", "-s", str(LUA), url, "--", token, PROJECT, *networks]
    server_cpu = group_cpu_seconds(group)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = group_cpu_seconds(group) - server_cpu
    output = done.stdout.replace(token, "<token>")
    (logs / f"wrk-{label.replace(' ', '-')}.txt").write_text(output + done.stderr)
    lines = [line for line in output.splitlines() if line.startswith("WRK_RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{output}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("WRK_RESULT "))
    requests = max(int(result["requests"]), 1)
    errors = result["errors"]
    latency = result["latency_us"]
    run = Load(
        label=label, connections=connections, created=int(result["created"]),
        other=int(result["other"]), statuses=dict(result["statuses"]), sample=result["sample"],
        socket_errors=sum(int(errors[k]) for k in ("connect", "read", "write", "timeout")),
        seconds=int(result["duration_us"]) / 1e6, p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000, per_connection=[t["created"] for t in result["threads"]],
        server_cpu_ms=server_cpu * 1000 / requests,
        client_cpu_ms=(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        * 1000 / requests,
    )
    say(f"{label}: {run.rate:,.0f}/s, p99 {run.p99_ms:.1f} ms, {run.checks()}  [{load()}]")
    return run


# -- the runs --------------------------------------------------------------------------------


def ceiling(wrk: str, sync: bool, seconds: float, work: Path) -> Load:
    """The no-op app under one connection: its async route (the ceiling) or its sync one."""
    kind = "sync" if sync else "async"
    argv = [sys.executable, str(BENCH / "noop_app.py"), *(["--sync"] if sync else [])]
    with server(argv, dict(os.environ), work / f"noop-{kind}.log") as (url, group):
        warm_up(url)
        return run_wrk(wrk, f"no-op app, {kind} route, 1 conn", url, group, "unused",
                       NETWORKS[:1], seconds, work)


def warm_up(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(20):
            client.post("/v1/ip/allocate", json={"networkid": NETWORKS[0], "projectid": PROJECT})


def ipam_runs(wrk: str, store: str, database_url: str, workers: int, plans: Sequence[int],
              seconds: float, work: Path) -> list[Load]:
    """`ipam serve` as a new user starts it, on a fresh store: one wrk run per plan (a number of
    connections, each on its own network)."""
    token = admin_token(database_url)
    argv = [str(IPAM), "serve", *(["--workers", str(workers)] if workers > 1 else [])]
    env = {**os.environ, "IPAM_DATABASE_URL": database_url}
    runs: list[Load] = []
    with server(argv, env, work / f"serve-{store}.log") as (url, group):
        create_networks(url, token)
        time.sleep(1)  # the follower folds the setup's events before the clock starts
        for connections in plans:
            label = f"{store}{f' --workers {workers}' if workers > 1 else ''} {connections} conn"
            runs.append(run_wrk(wrk, label, url, group, token, NETWORKS[:connections], seconds,
                                work))
    log = (work / f"serve-{store}.log").read_text()
    if "Traceback" in log:
        say(f"the {store} server logged a traceback:\n{log[-3000:]}")
    return runs


# -- the table -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(noop: Load, noop_sync: Load, one: Load, four: Load, pg: Load | None,
                raw_pg: float | None, raw_sqlite: float) -> None:
    share = one.rate / noop.rate
    share_sync = one.rate / noop_sync.rate
    scaling = four.rate / one.rate
    print("\n| measure | figure | ratio | goal | verdict |")
    print("|---|---:|---:|---|---|")
    print(f"| do-nothing FastAPI app, same request/response shape, 1 connection (the stack's "
          f"ceiling: async route) | {noop.rate:,.0f}/s | | | |")
    print(f"| IP allocation, SQLite, 1 connection | {one.rate:,.0f}/s | {share:.2f} of the "
          f"ceiling | >= {GOALS['ceiling']} | {verdict(share >= GOALS['ceiling'])} |")
    print(f"| (reference) the same do-nothing app with a sync route, as the service's | "
          f"{noop_sync.rate:,.0f}/s | allocation: {share_sync:.2f} of it | "
          f"(>= {GOALS['ceiling']}) | ({verdict(share_sync >= GOALS['ceiling'])}) |")
    print(f"| p99 latency at 1 connection | {one.p99_ms:.1f} ms | | <= {GOALS['p99_ms']:g} ms "
          f"| {verdict(one.p99_ms <= GOALS['p99_ms'])} |")
    print(f"| 4 connections on 4 networks, SQLite | {four.rate:,.0f}/s | {scaling:.2f}x one "
          f"connection | >= {GOALS['scaling']}x | {verdict(scaling >= GOALS['scaling'])} |")
    if pg is not None and raw_pg is not None:
        of_raw = pg.rate / raw_pg
        print(f"| PostgreSQL, `--workers 2`, 4 connections on 4 networks | {pg.rate:,.0f}/s | "
              f"{of_raw:.2f} of raw commits | >= {GOALS['raw']} | "
              f"{verdict(of_raw >= GOALS['raw'])} |")
        print(f"| raw commits, PostgreSQL: one psycopg connection, INSERT + COMMIT | "
              f"{raw_pg:,.0f}/s | | | |")
    else:
        print("| PostgreSQL | skipped | | | |")
    print(f"| raw commits, SQLite `sqlite3` WAL NORMAL (reference) | {raw_sqlite:,.0f}/s | | | |")
    runs = [r for r in (noop, noop_sync, one, four, pg) if r is not None]
    print("\n| run | 201/s | p50 | p99 | server CPU / req | wrk CPU / req | per connection | checks |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        per = " / ".join(f"{n / r.seconds:,.0f}" for n in r.per_connection)
        print(f"| {r.label} | {r.rate:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | "
              f"{r.server_cpu_ms:.2f} ms | {r.client_cpu_ms:.3f} ms | {per} | {r.checks()} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="3 s per run (a smoke run)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the SQLite store")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.duration
    wrk = ensure_wrk()
    began = time.perf_counter()
    print(f"bench/wrk_alloc.py, {seconds:g} s per run, {os.cpu_count()} cores, start {load()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ipam-wrk-"))
    try:
        noop = ceiling(wrk, False, seconds, work)
        noop_sync = ceiling(wrk, True, seconds, work)
        one, four = ipam_runs(wrk, "sqlite", f"sqlite:///{work / 'ipam.db'}", 1, (1, 4),
                              seconds, work)
        pg: Load | None = None
        raw_pg: float | None = None
        database = None if args.sqlite_only else postgres_scratch(SCRATCH_DB, create=True)
        if database is not None:
            try:
                (pg,) = ipam_runs(wrk, "postgresql", database, 2, (4,), seconds, work)
                raw_pg = postgres_commits(database, seconds).rate
                say(f"raw commits postgresql: {raw_pg:,.0f}/s  [{load()}]")
            finally:
                postgres_scratch(SCRATCH_DB, create=False)
        raw_sqlite = sqlite_commits(str(work / "raw.db"), seconds).rate
        say(f"raw commits sqlite: {raw_sqlite:,.0f}/s  [{load()}]")
        print_table(noop, noop_sync, one, four, pg, raw_pg, raw_sqlite)
        flagged = [r for r in (noop, noop_sync, one, four, pg) if r is not None and not r.clean]
        print(f"\nfinished in {time.perf_counter() - began:.0f}s, end {load()}"
              + (f"; logs in {work}" if args.keep else ""))
        if flagged:
            print(f"FLAGGED: {', '.join(r.label for r in flagged)} had errors (see checks)")
            return 1
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
