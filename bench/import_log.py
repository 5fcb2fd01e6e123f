"""How fast `ipam events import` loads a log: 100,000 events into an empty SQLite store.

    .venv/bin/python bench/import_log.py                 # 100,000 events, SQLite (and PostgreSQL)
    .venv/bin/python bench/import_log.py --events 20000  # a quicker run
    .venv/bin/python bench/import_log.py --sqlite-only

A source store is filled with real events (acquisitions in both families, some updates and
releases, saved 500 domain commands per transaction so the fill stays short), exported with
`ipam events export`, and imported with `ipam events import FILE` in a fresh process, as a user
runs it. The import's wall time includes checking the hash chain line by line, storing the
events and building every projection. The target is under 30 s for 100,000 events on SQLite.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load, postgres_scratch, say

from application.context import RequestContext
from domain.addressing import Family
from domain.network import Network, network_uuid
from infrastructure.audit import checkpoint
from infrastructure.store import open_ipam

TARGET_SECONDS = 30.0
IPAM = str(Path(sys.executable).parent / "ipam")


def fill(url: str, events: int) -> tuple[int, str]:
    """A log of about `events` events; its checkpoint."""
    ipam = open_ipam(url)
    try:
        ctx = RequestContext.new(actor="bench", reason="import benchmark")
        ipam.app.create_network(context=ctx, network_id="bench", prefixes=["10.0.0.0/12", "2001:db8::/56"])
        app = ipam.app
        while (app.recorder.max_notification_id() or 0) < events:
            network: Network = app.repository.get(network_uuid("bench"))
            for n in range(500):
                family = Family.IPV6 if n % 3 == 0 else Family.IPV4
                acquired = network.acquire_ip(project_id="p", allocation_uuid=f"bench-{network.version}",
                                              address_family=family, name=f"ip-{n}",
                                              context=ctx.as_event_field())
                if n % 50 == 0:
                    network.update_ip(acquired.address, allocation_uuid=acquired.allocation_uuid,
                                      project_id="p", name="renamed", description=None,
                                      ip_type="static", tags=["bench=yes"],
                                      context=ctx.as_event_field())
                elif n % 75 == 0:
                    network.release_ip(acquired.address, ctx.as_event_field(),
                                       allocation_uuid=acquired.allocation_uuid, project_id="p")
            app.save(network)
        return checkpoint(ipam)
    finally:
        ipam.close()


def run(label: str, source_url: str, target_url: str, events: int, workdir: Path) -> None:
    started = time.perf_counter()
    expected = fill(source_url, events)
    say(f"{label}: filled {expected[0]:,} events in {time.perf_counter() - started:.1f} s")
    export_file = workdir / f"{label}.jsonl"
    started = time.perf_counter()
    with export_file.open("w") as out:
        subprocess.run([IPAM, "events", "export", "--database-url", source_url], stdout=out, check=True)
    exported = time.perf_counter() - started
    started = time.perf_counter()
    result = subprocess.run([IPAM, "events", "import", str(export_file), "--database-url", target_url],
                            capture_output=True, text=True, check=False)
    imported = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import failed: {result.stderr}")
    same = f"checkpoint {expected[0]}:{expected[1]}" in result.stdout
    verdict = "PASS" if imported < TARGET_SECONDS else "MISS"
    size = export_file.stat().st_size / 2**20
    print(f"| {label} | {expected[0]:,} | {size:.0f} MiB | {exported:.1f} s | {imported:.1f} s "
          f"({expected[0] / imported:,.0f} events/s) | {'same' if same else 'DIFFERENT'} | "
          f"{verdict if label == 'sqlite' else ''} |", flush=True)
    if not same:
        raise SystemExit("the imported checkpoint differs from the source's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"`ipam events import` of {args.events:,} events ({load()}); target < {TARGET_SECONDS:.0f} s on SQLite\n")
    print("| target store | events | export size | export | import (chain check, store, projections) | checkpoint | target |")
    print("|---|---:|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run("sqlite", f"sqlite:///{workdir / 'source.db'}", f"sqlite:///{workdir / 'target.db'}",
            args.events, workdir)
        if not args.sqlite_only:
            url = postgres_scratch("ipam_bench_import", create=True)
            if url is not None:
                try:
                    run("postgresql", f"sqlite:///{workdir / 'source-pg.db'}", url, args.events, workdir)
                finally:
                    postgres_scratch("ipam_bench_import", create=False)


if __name__ == "__main__":
    main()
