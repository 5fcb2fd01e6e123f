"""How long the console's pages take to render, server side, on big networks.

A network holding 100,000 acquired addresses (IPv4 /14 + IPv6 /64) and a private super /8 with
10,000 child networks, in a SQLite store in a temporary directory; each page is asked through
the real ASGI app (in process: the time is the server's, without a network in between), signed
in with an admin token's session cookie, and the median and 95th percentile of `--runs` requests
are printed. Target: a network page of a network with 100,000 IPs under 200 ms.

    .venv/bin/python bench/console_page.py [--runs 20] [--ips 100000] [--children 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from application.context import RequestContext  # noqa: E402
from domain.network import Network, network_uuid  # noqa: E402
from domain.network_values import NetworkAttributes  # noqa: E402
from infrastructure.store import Ipam, open_ipam  # noqa: E402

BIG, SUPER, PROJECT = "big", "super-8", "bench-project"
TARGET_MS = 200.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fill(ipam: Ipam, ctx: RequestContext, n: int, batch: int = 500) -> None:
    """n acquisitions by the domain command, `batch` per transaction (the same events as
    through the API, fewer commits)."""
    while n > 0:
        network: Network = ipam.app.repository.get(network_uuid(BIG))
        for _ in range(min(batch, n)):
            network.acquire_ip(project_id=PROJECT, allocation_uuid=str(uuid4()),
                               context=ctx.as_event_field())
        ipam.app.save(network)
        n -= batch


def carve(ipam: Ipam, ctx: RequestContext, n: int, batch: int = 200) -> None:
    """n child networks of the /8 (their allocations on the super; children themselves are
    created by the use case for the first ones, enough to list)."""
    for i in range(n):
        ipam.app.allocate_child_network(context=ctx, partition_id="bench", project_id=PROJECT,
                                        name=f"child-{i}")


def timed(client: TestClient, path: str, runs: int) -> tuple[float, float, int]:
    client.get(path)  # warm
    samples = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        size = len(response.content)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ips", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=10_000)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="ipam-console-bench-"))
    ipam = open_ipam(f"sqlite:///{directory / 'ipam.db'}")
    ctx = RequestContext.new(actor="bench")
    ipam.app.create_network(context=ctx, network_id=BIG, prefixes=["10.0.0.0/14", "2001:db8::/64"],
                            attributes=NetworkAttributes(name=BIG, project_id=PROJECT))
    started = time.perf_counter()
    fill(ipam, ctx, args.ips)
    say(f"filled {args.ips} addresses in {time.perf_counter() - started:.1f}s")
    ipam.app.create_network(context=ctx, network_id=SUPER, prefixes=["100.0.0.0/8"],
                            attributes=NetworkAttributes(
                                name=SUPER, partition_id="bench", private_super=True,
                                default_child_prefix_length={"IPv4": 24}))
    started = time.perf_counter()
    carve(ipam, ctx, args.children)
    say(f"carved {args.children} children in {time.perf_counter() - started:.1f}s")
    for projector in ipam.projectors.values():
        projector.catch_up()
    _, secret = ipam.tokens.issue(context=ctx, subject="bench", role="admin")
    rows = []
    with TestClient(create_app(ipam, follow=False)) as client:
        client.post("/ui/signin", data={"token": secret}, follow_redirects=False)
        client.cookies.set("ipam_session", secret, path="/ui")
        first = client.get(f"/ui/networks/{BIG}").text
        assert "data-ip=" in first, first[:500]
        pages = [
            (f"network page, {args.ips:,} IPs", f"/ui/networks/{BIG}"),
            ("  its next IP page", f"/ui/networks/{BIG}?after=10.0.39.1"),
            ("  its history, older page", f"/ui/networks/{BIG}?cursor=50000"),
            (f"private super /8, {args.children:,} children", f"/ui/networks/{SUPER}"),
            ("overview", "/ui/"),
            ("IP page", "/ui/ips/10.0.0.1"),
        ]
        for name, path in pages:
            median, p95, size = timed(client, path, args.runs)
            verdict = ""
            if name.startswith("network page"):
                verdict = "PASS" if median <= TARGET_MS else "MISS"
            rows.append((name, median, p95, size, verdict))
    ipam.close()
    print(f"{'page':<40} {'median':>9} {'p95':>9} {'bytes':>10}")
    for name, median, p95, size, verdict in rows:
        print(f"{name:<40} {median:7.1f}ms {p95:7.1f}ms {size:>10,} {verdict}")
    print(f"(target: the network page under {TARGET_MS:.0f} ms; {args.runs} runs each)")


if __name__ == "__main__":
    main()
