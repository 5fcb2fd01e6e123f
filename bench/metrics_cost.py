"""What the metrics cost: counting a request, and answering a scrape.

  - counting: what one allocation request adds to prometheus-client's figures (the request
    counter, the duration histogram, the acquisition counter), in one process and in
    multiprocess mode (`ipam serve --workers`), each measured in a process of its own, since
    prometheus-client picks its mode when it is imported;
  - a scrape: `GET /metrics` through the ASGI test client on a SQLite store with 3 and with 100
    dual-stack private super networks (5 children each), 20 scrapes each after a first one.
A program, not a test.

    .venv/bin/python bench/metrics_cost.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTING = 100_000
SCRAPES = 20


def counting() -> None:
    """In this process: microseconds per request of counting."""
    from infrastructure.metrics import HTTP_DURATION, HTTP_REQUESTS, IP_ACQUISITIONS

    requests = HTTP_REQUESTS.labels(method="POST", route="/v1/ip/allocate", status="201")
    duration = HTTP_DURATION.labels(method="POST", route="/v1/ip/allocate")
    acquisitions = IP_ACQUISITIONS.labels(family="ipv4")
    started = time.perf_counter()
    for _ in range(COUNTING):
        requests.inc()
        duration.observe(0.0007)
        acquisitions.inc()
    print(f"{(time.perf_counter() - started) / COUNTING * 1e6:.2f}")


def scrape(supers: int) -> float:
    """Milliseconds per scrape with this many super networks (in this process)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from application.context import RequestContext
    from infrastructure.store import open_ipam

    work = Path(tempfile.mkdtemp(prefix="ipam-metrics-bench-"))
    ipam = open_ipam(f"sqlite:///{work / 'ipam.db'}")
    try:
        _, secret = ipam.tokens.issue(context=RequestContext.new(actor="bench"),
                                      subject="bench", role="admin")
        with TestClient(create_app(ipam, follow=False),
                        headers={"Authorization": f"Bearer {secret}"}) as client:
            for i in range(supers):
                assert client.put("/v1/network", json={
                    "id": f"super-{i:03d}", "partitionid": f"p{i}", "privatesuper": True,
                    "prefixes": [f"10.{i}.0.0/16", f"2001:db8:{i:x}::/48"],
                    "defaultchildprefixlength": {"IPv4": 22, "IPv6": 64}}).status_code == 201
                for _ in range(5):
                    assert client.post("/v1/network/allocate", json={
                        "partitionid": f"p{i}", "projectid": "bench"}).status_code == 201
            assert client.get("/metrics").status_code == 200
            started = time.perf_counter()
            for _ in range(SCRAPES):
                assert client.get("/metrics").status_code == 200
            return (time.perf_counter() - started) / SCRAPES * 1000
    finally:
        ipam.close()


def counted_in_a_process(multiprocess: bool) -> float:
    env = {key: value for key, value in os.environ.items()
           if key.lower() != "prometheus_multiproc_dir"}
    with tempfile.TemporaryDirectory(prefix="ipam-metrics-files-") as files:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = files
        out = subprocess.run([sys.executable, __file__, "--counting"], env=env, cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:] == ["--counting"]:
        counting()
        return
    print("| measure | figure |")
    print("|---|---:|")
    print(f"| counting one allocation request, one process | {counted_in_a_process(False):.2f} µs |")
    print(f"| the same, multiprocess mode (`--workers`) | {counted_in_a_process(True):.2f} µs |")
    for supers in (3, 100):
        print(f"| a scrape, {supers} dual-stack super networks (SQLite) | {scrape(supers):.1f} ms |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
