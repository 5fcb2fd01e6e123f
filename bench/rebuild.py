"""How fast the projections are rebuilt, and the audit jobs run, over a log of 100,000 events.

Fills a store with a realistic history (private supers, child networks, plain networks, then
mostly IPAcquired / IPUpdated / IPReleased), then measures on SQLite and (when it answers)
PostgreSQL:
  (0) reading the log: select + decode, the ceiling of every job below;
  (1) `Projector.catch_up()` of each projection from position 0, and `Projector.rebuild()` of
      read_models, history and chain one at a time and all three in turn, in events per second
      (target: >= 20,000 events/s on SQLite);
  (2) `infrastructure.audit.verify(ipam)`: events per second and wall time;
  (3) `checkpoint(ipam)` and `export(ipam)` written as JSON lines, events per second.
Prints one table with PASS/MISS beside the target. A program, not a test.

    .venv/bin/python bench/rebuild.py [--quick] [--sqlite-only] [--profile] [--events N]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from common import Row, load, postgres_scratch, print_table, profile_text, say
from sqlalchemy import text

from application.context import RequestContext
from domain.addressing import Family
from domain.network import Network, network_uuid
from domain.network_values import NetworkAttributes
from infrastructure.audit import checkpoint, verify
from infrastructure.chain import read_log
from infrastructure.store import Ipam, open_ipam
from infrastructure.tables import chain_table
from infrastructure.transfer import export

SCRATCH_DB = "ipam_bench_rebuild"
TARGET = 20_000  # events per second for a rebuild on SQLite (issue 3)
PROJECTIONS = ("read_models", "history", "chain")
ACTORS = ("alice", "bob", "provisioner", "anonymous")
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    events: int
    partitions: int  # one private super each
    children: int  # child networks allocated per partition
    plain: int  # plain networks with large prefixes


FULL = Sizes(events=100_000, partitions=4, children=40, plain=6)
QUICK = Sizes(events=10_000, partitions=2, children=10, plain=3)


@dataclass
class Fill:
    """What the fill wrote, by event type."""

    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def timed(job: Callable[[], T]) -> tuple[T, float, float]:
    """The job's result, its wall seconds and this process's CPU seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    result = job()
    return result, time.perf_counter() - started, time.process_time() - cpu


# -- filling the log -------------------------------------------------------------------------


def context(rng: random.Random) -> RequestContext:
    reason = rng.choice((None, None, "ticket OPS-1234", "scheduled maintenance"))
    return RequestContext.new(actor=rng.choice(ACTORS), reason=reason)


def head(ipam: Ipam) -> int:
    return int(ipam.app.recorder.max_notification_id() or 0)


def fill(ipam: Ipam, sizes: Sizes, batch: int, rng: random.Random) -> Fill:
    """Write a history of about `sizes.events` events.

    Networks, children, updates and deletions go through the application's commands, one
    transaction each. The IP churn that makes up most of the log uses the aggregate's own
    commands (`Network.acquire_ip`, `update_ip`, `release_ip`, the ones `IpamApplication`
    calls), `batch` of them on one network saved per transaction: the same events with fewer
    commits (releases through the application would also catch the read model up each time).
    """
    app = ipam.app
    started = time.perf_counter()
    for p in range(sizes.partitions):
        app.create_network(
            context=context(rng),
            network_id=f"super-{p}",
            prefixes=[f"10.{p}.0.0/16", f"2001:db8:{p:x}::/48"],
            attributes=NetworkAttributes(name=f"super {p}", partition_id=f"part-{p}", project_id="", private_super=True, default_child_prefix_length={"IPv4": 24, "IPv6": 64}),
        )
    children: list[str] = []
    for i in range(sizes.children * sizes.partitions):
        child = app.allocate_child_network(
            context=context(rng), partition_id=f"part-{i % sizes.partitions}",
            project_id=f"project-{i % 7}", name=f"child {i}", labels={"tier": rng.choice("abc")},
        )
        children.append(child["network_id"])
    for child_id in children[::10]:  # some children come and go
        app.delete_network(child_id, context=context(rng), only_child=True)
    children = [c for c in children if c not in children[::10]]
    plain = [f"plain-{i}" for i in range(sizes.plain)]
    for i, network_id in enumerate(plain):
        app.create_network(
            context=context(rng),
            network_id=network_id,
            prefixes=[f"172.{16 + i}.0.0/16", f"2001:db8:1{i:02x}::/64"],
            attributes=NetworkAttributes(name=f"plain {i}", partition_id=f"part-{i % sizes.partitions}", project_id=f"project-{i % 7}"),
        )
    app.delete_network(plain[-1], context=context(rng))  # deleted, then created again
    app.create_network(
        context=context(rng),
        network_id=plain[-1],
        prefixes=["172.31.0.0/16", "2001:db8:1ff::/64"],
        attributes=NetworkAttributes(name="plain again", partition_id="part-0", project_id="project-0"),
    )
    for network_id in [*children[::5], *plain]:
        app.update_network(network_id, context=context(rng),
                           labels={"owner": rng.choice(ACTORS), "env": rng.choice(("prod", "dev"))})
    say(f"  networks: {len(children)} children, {len(plain)} plain, {head(ipam):,} events")

    # IP churn: children hold at most 200 addresses (of 253 in a /24), plain networks more
    networks = children + plain * max(1, len(children) // len(plain))  # plain ones weigh more
    releasable: dict[str, list[str]] = {n: [] for n in networks}
    pinned: dict[str, list[str]] = {n: [] for n in networks}  # machine-scoped: never released
    cap = {n: (200 if n in children else 50_000) for n in networks}
    position = head(ipam)
    while position < sizes.events:
        network_id = rng.choice(networks)
        network: Network = app.repository.get(network_uuid(network_id))
        free, fixed = releasable[network_id], pinned[network_id]
        for _ in range(min(batch, sizes.events - position)):
            ctx = context(rng).as_event_field()
            roll = rng.random()
            if free and (roll < 0.25 or len(free) + len(fixed) >= cap[network_id]):
                index = rng.randrange(len(free))
                free[index], free[-1] = free[-1], free[index]
                address = free.pop()
                held = network.ip_facts(address)
                assert held is not None
                network.release_ip(address, ctx, allocation_uuid=held.allocation_uuid,
                                   project_id=held.project_id)
            elif (free or fixed) and roll < 0.45:
                address = rng.choice(free if free and (not fixed or roll < 0.42) else fixed)
                facts = network.ip_facts(address)
                assert facts is not None
                current = facts.type
                network.update_ip(
                    address, allocation_uuid=facts.allocation_uuid, project_id=facts.project_id,
                    name=f"host-{rng.randrange(10_000)}", description=None,
                    ip_type="static" if roll < 0.30 else current,
                    tags=[f"role={rng.choice(('web', 'db', 'cache'))}"], context=ctx,
                )
            else:
                machine = f"machine-{rng.randrange(1_000)}" if roll > 0.93 else ""
                event = network.acquire_ip(
                    project_id=network.project_id,
                    allocation_uuid=str(UUID(int=rng.getrandbits(128), version=4)),
                    address_family=Family.IPV6 if roll > 0.85 else None,
                    name=f"host-{rng.randrange(10_000)}", machine_id=machine, context=ctx,
                )
                (fixed if machine else free).append(event.address)
        app.save(network)
        position = head(ipam)
    say(f"  filled: {position:,} events in {time.perf_counter() - started:.0f}s")
    result = Fill(seconds=time.perf_counter() - started)
    for notification in read_log(app.recorder):
        kind = notification.topic.rsplit(".", 1)[-1]
        result.counts[kind] = result.counts.get(kind, 0) + 1
    return result


# -- measuring -------------------------------------------------------------------------------


def read_rate(ipam: Ipam) -> tuple[float, float]:
    """Select + decode of the whole log: events per second, CPU µs per event."""
    def job() -> int:
        count = 0
        for notification in read_log(ipam.app.recorder):
            ipam.app.mapper.to_domain_event(notification)
            count += 1
        return count
    count, seconds, cpu = timed(job)
    return count / seconds, cpu * 1e6 / count


def rate_row(store: str, measure: str, events: int, seconds: float, cpu: float,
             target: bool = False, note: str = "") -> Row:
    rate = events / seconds
    with_target = target and store == "sqlite"
    return Row(store, measure, rate, target=f">= {TARGET:,}/s" if with_target else "",
               ok=(rate >= TARGET) if with_target else None,
               note=f"{seconds:.1f}s, {cpu * 1e6 / events:.0f} µs CPU/event; {note}{load()}")


def run_store(store: str, url: str, sizes: Sizes, batch: int, profile: bool,
              profiles: list[str]) -> list[Row]:
    say(f"{store}: start, {load()}")
    rows: list[Row] = []
    writer = open_ipam(url)
    try:
        filled = fill(writer, sizes, batch, random.Random(7))
    finally:
        writer.close()
    del writer
    gc.collect()
    # measured on a fresh Ipam, as `ipam projections rebuild` or `ipam audit verify` open it:
    # the fill's aggregates and garbage would make every garbage collection below slower
    ipam = open_ipam(url)
    try:
        events = head(ipam)
        ip_events = sum(filled.counts.get(k, 0) for k in ("IPAcquired", "IPReleased", "IPUpdated"))
        ranked = sorted(filled.counts.items(), key=lambda kv: -kv[1])
        mix = ", ".join(f"{k} {v:,}" for k, v in ranked[:4]) + f", {len(ranked) - 4} other types"
        rows.append(Row(store, "fill (log written)", events / filled.seconds,
                        note=f"{events:,} events in {filled.seconds:.0f}s, {batch} IP commands/tx; "
                             f"IP events {ip_events / events:.0%}; {mix}"))
        say(f"{store} mix: {mix}")

        rate, cpu_us = read_rate(ipam)
        rows.append(Row(store, "(0) read log: select + decode", rate,
                        note=f"{cpu_us:.0f} µs CPU/event; {load()}"))
        say(f"{store} (0) read: {rate:,.0f}/s")

        for name in PROJECTIONS:  # the live slots follow the log from 0 (a new deployment)
            projector = ipam.projectors[name]
            applied, seconds, cpu = timed(projector.catch_up)
            rows.append(rate_row(store, f"(1) catch_up from 0: {name}", applied, seconds, cpu))
            say(f"{store} (1) catch_up {name}: {applied / seconds:,.0f}/s")

        for name in PROJECTIONS:  # into the spare slot while the live one is full
            projector = ipam.projectors[name]
            live = projector.live_slot()
            applied, seconds, cpu = timed(projector.rebuild)
            assert applied == events and projector.live_slot() != live, (applied, events)
            rows.append(rate_row(store, f"(1) rebuild {name}", applied, seconds, cpu, target=True))
            say(f"{store} (1) rebuild {name}: {applied / seconds:,.0f}/s")

        def rebuild_all() -> int:
            return sum(ipam.projectors[name].rebuild(restart=True) for name in PROJECTIONS)

        applied, seconds, cpu = timed(rebuild_all)  # into the slots full since the catch-up
        assert applied == 3 * events, (applied, events)
        rows.append(rate_row(store, "(1) rebuild all three in turn", events, seconds, cpu,
                             note=f"events of the log per second (the log is read once per "
                                  f"projection: {3 * events / seconds:,.0f} applied/s), old rows "
                                  "deleted first; "))
        say(f"{store} (1) rebuild all: {events / seconds:,.0f}/s")
        if profile:
            for name in PROJECTIONS:
                profiler = cProfile.Profile()
                profiler.enable()
                ipam.projectors[name].rebuild(restart=True)
                profiler.disable()
                profiles.append(profile_text(profiler, f"{store} rebuild {name}"))

        report, seconds, cpu = timed(lambda: verify(ipam))
        if not report.ok:
            raise AssertionError(f"verify found differences: {report.differences[:5]}")
        rows.append(rate_row(store, "(2) audit verify", report.events, seconds, cpu,
                             note=f"{report.aggregates} aggregates, {report.networks} networks, "
                                  f"{report.ips:,} IPs, {report.history_rows:,} history rows; "))
        rows.append(Row(store, f"(2) audit verify, wall time for {report.events:,} events", seconds,
                        unit="s", note=f"ok, digest {report.digest[:12]}..."))
        say(f"{store} (2) verify: {report.events / seconds:,.0f}/s, {seconds:.1f}s")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            verify(ipam)
            profiler.disable()
            profiles.append(profile_text(profiler, f"{store} audit verify"))

        (position, chain), seconds, cpu = timed(lambda: checkpoint(ipam))
        with ipam.projection.engine.connect() as conn:
            stored = conn.execute(text(
                f"SELECT hash FROM {chain_table(ipam.projectors['chain'].live_slot()).name} "
                "WHERE position = :p"), {"p": position}).scalar()
        if (position, stored) != (events, chain):
            raise AssertionError(f"checkpoint {position}:{chain} but the chain holds {stored}")
        rows.append(rate_row(store, "(3) audit checkpoint", events, seconds, cpu,
                             note="equals the chain projection's head; "))
        say(f"{store} (3) checkpoint: {events / seconds:,.0f}/s")

        def export_all() -> tuple[int, int]:
            count = size = 0
            for record in export(ipam):
                size += len(json.dumps(record, separators=(",", ":"))) + 1  # as the CLI writes
                count += 1
            return count, size
        (count, size), seconds, cpu = timed(export_all)
        assert count == events, (count, events)
        rows.append(rate_row(store, "(3) events export (JSON lines)", count, seconds, cpu,
                             note=f"{size / 1e6:.0f} MB; "))
        say(f"{store} (3) export: {count / seconds:,.0f}/s")
    finally:
        ipam.close()
    say(f"{store}: done, {load()}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 events for a smoke run")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one more rebuild of each projection and a verify")
    parser.add_argument("--events", type=int, default=None, help="events in the log (default 100,000)")
    parser.add_argument("--fill-batch", type=int, default=50,
                        help="IP commands on one network saved per transaction while filling")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.events:
        sizes = Sizes(args.events, sizes.partitions, sizes.children, sizes.plain)
    began = time.perf_counter()
    print(f"bench/rebuild.py {'--quick ' if args.quick else ''}{sizes.events:,} events on "
          f"{os.cpu_count()} cores, start {load()}")
    work = Path(tempfile.mkdtemp(prefix="ipam-bench-rebuild-"))
    profiles: list[str] = []
    rows: list[Row] = []
    try:
        rows += run_store("sqlite", f"sqlite:///{work / 'ipam.db'}", sizes, args.fill_batch,
                          args.profile, profiles)
        pg = None if args.sqlite_only else postgres_scratch(SCRATCH_DB, create=True)
        if pg is not None:
            try:
                rows += run_store("postgresql", pg, sizes, args.fill_batch, args.profile, profiles)
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
