"""How fast addresses are acquired: raw store commits, the application, the HTTP server.

Measures, on SQLite and (when it answers) PostgreSQL:
  (a) raw single-row insert+commit rate of the store (SQLAlchemy Core, the app's engine settings);
  (b) `IpamApplication.acquire_ip` per second with 100 / 10,000 / 100,000 addresses already taken
      in one network, filled by acquisitions (the realistic history);
  (c) `POST /v1/ip/allocate` per second through the real server (uvicorn subprocess) with 1 and 4
      keep-alive clients, on a fresh network and on the filled one, and the server's peak memory.
Prints one table with the ratios and PASS/MISS beside each target. A program, not a test.

    .venv/bin/python bench/acquire.py [--quick] [--sqlite-only] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
from common import Row, load, postgres_scratch, print_table, profile_text, say
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, create_engine, event, text

from application.context import RequestContext
from domain.network import Network, network_uuid
from domain.network_values import NetworkAttributes
from infrastructure.settings import sqlalchemy_url
from infrastructure.store import Ipam, _sqlite_pragmas, open_ipam  # the app's own pragmas

ROOT = Path(__file__).resolve().parent.parent
SCRATCH_DB = "ipam_bench"
PROJECT = "bench-project"
BIG = "bench-filled"  # filled to every level in (b), then served in (c)
SMALL = "bench-http"  # created fresh through HTTP in (c)
BIG_PREFIXES = ["10.0.0.0/14", "2001:db8:1::/64"]  # 262,142 IPv4 addresses: room to spare
SMALL_PREFIXES = ["10.8.0.0/16", "2001:db8:2::/64"]


@dataclass(frozen=True)
class Sizes:
    raw: int
    levels: tuple[int, ...]
    timed: int
    http: int


FULL = Sizes(raw=2_000, levels=(100, 10_000, 100_000), timed=2_000, http=2_000)
QUICK = Sizes(raw=300, levels=(100, 1_000, 5_000), timed=300, http=200)


# -- (a) raw commits -------------------------------------------------------------------------


def raw_commit_rate(url: str, n: int) -> float:
    """Single-row INSERT + COMMIT per transaction into a small table (400-byte rows, like events)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    table = Table("bench_raw", MetaData(), Column("id", Integer, primary_key=True),
                  Column("state", LargeBinary, nullable=False))
    table.drop(engine, checkfirst=True)
    table.create(engine)
    payload = os.urandom(400)
    statement = table.insert()
    started = time.perf_counter()
    for _ in range(n):
        with engine.begin() as conn:
            conn.execute(statement, {"state": payload})
    rate = n / (time.perf_counter() - started)
    table.drop(engine)
    engine.dispose()
    return rate


# -- (b) application -------------------------------------------------------------------------


def snapshot_count(ipam: Ipam) -> int:
    table = ipam.app.snapshots.recorder.events_table_name  # type: ignore[union-attr]
    with ipam.projection.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def acquire(ipam: Ipam, ctx: RequestContext, n: int) -> tuple[float, float]:
    """Acquisitions per second (wall clock), and CPU µs of this process per acquisition
    (steadier than the rate when other work shares the cores)."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        ipam.app.acquire_ip(context=ctx, network_id=BIG, project_id=PROJECT)
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / n


def fill(ipam: Ipam, ctx: RequestContext, n: int, batch: int) -> None:
    """Take n more addresses: through `acquire_ip` (batch 1), or through the same domain command
    with `batch` acquisitions saved per transaction (same events, fewer commits)."""
    if batch <= 1:
        acquire(ipam, ctx, n)
        return
    app = ipam.app
    while n > 0:
        network: Network = app.repository.get(network_uuid(BIG))
        for _ in range(min(batch, n)):
            network.acquire_ip(project_id=PROJECT, allocation_uuid=str(uuid4()),
                               context=ctx.as_event_field())
        app.save(network)
        n -= batch


def app_levels(store: str, url: str, sizes: Sizes, batch: int, profile: bool,
               profiles: list[str]) -> tuple[list[Row], int]:
    """Rows for (b), and how many addresses the network holds afterwards."""
    rows: list[Row] = []
    ipam = open_ipam(url)
    ctx = RequestContext.new(actor="bench")
    ipam.app.create_network(
        context=ctx,
        network_id=BIG,
        prefixes=BIG_PREFIXES,
        attributes=NetworkAttributes(name=BIG, partition_id="bench", project_id=PROJECT),
    )
    taken = 0
    for level in sizes.levels:
        started = time.perf_counter()
        fill(ipam, ctx, level - taken, batch)
        filled = time.perf_counter() - started
        fill_rate = (level - taken) / filled if filled else 0.0
        snapshots = snapshot_count(ipam)
        rate, cpu_us = acquire(ipam, ctx, sizes.timed)
        in_window = snapshot_count(ipam) - snapshots
        taken = level + sizes.timed
        if profile and level in (sizes.levels[0], sizes.levels[-1]):
            # a separate window: the profiler's overhead must not distort the timed one
            profiler = cProfile.Profile()
            profiler.enable()
            acquire(ipam, ctx, sizes.timed // 2)
            profiler.disable()
            profiles.append(profile_text(profiler, f"{store} acquire_ip @{taken:,}"))
            taken += sizes.timed // 2
        note = (f"{cpu_us:,.0f} µs CPU each; fill {level:,}: {filled:.0f}s ({fill_rate:,.0f}/s{'' if batch <= 1 else f', {batch}/tx'}); "
                f"{in_window} snapshot(s) in window; {load()}")
        target_ok = (rate >= 1000) if store == "sqlite" else None
        rows.append(Row(store, f"(b) acquire_ip @{level:,}", rate,
                        target=">= 1,000/s" if store == "sqlite" else "", ok=target_ok, note=note,
                        cpu_us=cpu_us))
        say(f"{store} (b) @{level:,}: {rate:,.0f}/s  [{note}]")
    ipam.close()
    reopened = open_ipam(url)  # empty cache: newest snapshot + replay
    started = time.perf_counter()
    document = reopened.app.acquire_ip(context=ctx, network_id=BIG, project_id=PROJECT)
    cold = time.perf_counter() - started
    reopened.close()
    expected = ipaddress.ip_network(BIG_PREFIXES[0]).network_address + taken + 1
    if document["address"] != str(expected):  # the reloaded state must be the saved one
        raise AssertionError(f"after reopen got {document['address']}, expected {expected}")
    rows.append(Row(store, f"(b) first acquire_ip after reopen @{taken:,}", cold * 1000, unit="ms",
                    note="cold load: newest snapshot + events since"))
    return rows, taken + 1


# -- (c) HTTP --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kb(pid: int) -> dict[str, int]:
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            figures[key] = int(value.split()[0])
    return figures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_rate(base: str, network_id: str, n: int, clients: int,
              headers: dict[str, str]) -> tuple[float, float, int]:
    """Acquisitions per second from `clients` threads, each with its own keep-alive client;
    the clients' CPU ms per request; failed requests."""
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def work(count: int) -> None:
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            client.get("/v1/health")  # open the connection before the clock starts
            barrier.wait()
            for _ in range(count):
                response = client.post("/v1/ip/allocate",
                                       json={"networkid": network_id, "projectid": PROJECT})
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text[:120]}")

    threads = [threading.Thread(target=work, args=(n // clients,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    rate = (n // clients) * clients / (time.perf_counter() - started)
    client_ms = (time.process_time() - cpu) * 1000 / ((n // clients) * clients)
    if failures:
        say(f"  {len(failures)} failed requests, first: {failures[0]}")
    return rate, client_ms, len(failures)


def http_server(store: str, url: str, sizes: Sizes, filled: int, logs: Path) -> list[Row]:
    rows: list[Row] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (logs / f"server-{store}.log").open("w")
    issuer = open_ipam(url)
    try:
        _, secret = issuer.tokens.issue(context=RequestContext.new(actor="bench"),
                                        subject="bench", role="admin")
    finally:
        issuer.close()
    headers = {"Authorization": f"Bearer {secret}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env={**os.environ, "IPAM_DATABASE_URL": url}, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
            for _ in range(600):
                try:
                    if client.get("/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise RuntimeError(f"server exited, see {log.name}")
                time.sleep(0.1)
            started_kb = memory_kb(server.pid)["VmHWM"]
            created = client.put("/v1/network", json={
                "id": SMALL, "name": SMALL, "partitionid": "bench", "projectid": PROJECT,
                "prefixes": SMALL_PREFIXES})
            assert created.status_code == 201, created.text
            started = time.perf_counter()
            client.get(f"/v1/network/{BIG}").raise_for_status()  # read model catches up
            catch_up = time.perf_counter() - started
            started = time.perf_counter()
            first = client.post("/v1/ip/allocate", json={"networkid": BIG, "projectid": PROJECT})
            assert first.status_code == 201, first.text
            cold = time.perf_counter() - started
        # The server's follower also folds the whole log into the history and chain
        # projections after a start; time that, and keep it out of the timed runs below.
        started = time.perf_counter()
        watcher = open_ipam(url)
        try:
            deadline = time.monotonic() + 600
            while any(p.status().lag for p in watcher.projectors.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the server's projections did not catch up in 600 s")
                time.sleep(0.2)
        finally:
            watcher.close()
        follow_up = time.perf_counter() - started
        taken = filled + 1
        for network_id, label in ((SMALL, "fresh network"), (BIG, "filled network")):
            for clients in (1, 4):
                cpu = cpu_seconds(server.pid)
                rate, client_ms, failed = http_rate(base, network_id, sizes.http, clients, headers)
                cpu_ms = (cpu_seconds(server.pid) - cpu) * 1000 / sizes.http
                at = "" if network_id == SMALL else f" @{taken:,}"
                taken += sizes.http if network_id == BIG else 0
                rows.append(Row(
                    store, f"(c) HTTP {clients} client{'s' if clients > 1 else ''}, {label}{at}",
                    rate, target=">= 400/s" if clients == 1 else "",
                    ok=(rate >= 400) if clients == 1 else None,
                    note=f"CPU each: server {cpu_ms:.2f} ms, client {client_ms:.2f} ms; "
                         f"{failed} failed; {load()}"))
                say(f"{store} (c) {clients} client(s) {label}: {rate:,.0f}/s  [{load()}]")
        memory = memory_kb(server.pid)
        rows.append(Row(store, "(c) server read model catch-up at start", catch_up, unit="s",
                        note=f"{filled:,}+ events folded before the first read"))
        rows.append(Row(store, "(c) server follower: all projections caught up", follow_up,
                        unit="s", note="history and chain of the whole log, before the timed runs"))
        rows.append(Row(store, "(c) server first acquisition (cold load)", cold * 1000, unit="ms"))
        rows.append(Row(store, "(c) server VmHWM after startup", started_kb / 1024, unit="MiB"))
        rows.append(Row(store, f"(c) server VmHWM, network @{filled:,}+", memory["VmHWM"] / 1024,
                        unit="MiB", note=f"VmRSS {memory['VmRSS'] / 1024:.0f} MiB"))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return rows


# -- one store -------------------------------------------------------------------------------


def run_store(store: str, url: str, raw_url: str, sizes: Sizes, batch: int, profile: bool,
              profiles: list[str], logs: Path) -> list[Row]:
    say(f"{store}: start, {load()}")
    raw = raw_commit_rate(raw_url, sizes.raw)
    rows = [Row(store, "(a) raw insert+commit", raw, note=load())]
    say(f"{store} (a): {raw:,.0f}/s")
    levels, filled = app_levels(store, url, sizes, batch, profile, profiles)
    rows += levels
    first, last = levels[0], levels[len(sizes.levels) - 1]
    ratio = last.value / first.value
    cpu_ratio = (first.cpu_us or 0) / (last.cpu_us or 1)
    rows.append(Row(store, f"ratio (b@{sizes.levels[-1]:,})/(b@{sizes.levels[0]:,})", ratio,
                    unit="", target=">= 0.8", ok=ratio >= 0.8,
                    note=f"same ratio from CPU per acquisition: {cpu_ratio:.3f}"))
    rows.append(Row(store, f"ratio (b@{sizes.levels[0]:,})/(a)", first.value / raw, unit=""))
    rows += http_server(store, url, sizes, filled, logs)
    say(f"{store}: done, {load()}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile (b) at the lowest and highest level and print where time goes")
    parser.add_argument("--pg-fill-batch", type=int, default=250,
                        help="acquisitions per transaction when filling on PostgreSQL "
                             "(1 = through acquire_ip; default 250 keeps the run short)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    print(f"bench/acquire.py {'--quick ' if args.quick else ''}on {os.cpu_count()} cores, "
          f"start {load()}")
    work = Path(tempfile.mkdtemp(prefix="ipam-bench-"))
    profiles: list[str] = []
    rows: list[Row] = []
    try:
        url = f"sqlite:///{work / 'ipam.db'}"
        rows += run_store("sqlite", url, f"sqlite:///{work / 'raw.db'}", sizes, 1, args.profile,
                          profiles, work)
        pg = None if args.sqlite_only else postgres_scratch(SCRATCH_DB, create=True)
        if pg is not None:
            try:
                rows += run_store("postgresql", pg, sqlalchemy_url(pg), sizes, args.pg_fill_batch,
                                  args.profile, profiles, work)
            finally:
                postgres_scratch(SCRATCH_DB, create=False)
    finally:
        for text_ in profiles:
            print(text_)
        print_table(rows)
        print(f"\nfinished in {time.perf_counter() - began:.0f}s, end {load()}")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
