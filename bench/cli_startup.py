"""How long the `ipam` command line takes to start, over Python's own start-up.

Runs each command many times through the installed console script (as a user's shell does) and
prints the median wall time, the same minus `python -c pass`, and PASS/MISS against the target:
a client command within 0.3 s of Python's start-up, completion faster still. The client commands
are answered without a server (`--help`, and a list against a port where nothing listens, which
fails fast with exit 3), so only start-up and argument handling are measured.

    .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_CLIENT, TARGET_COMPLETION = 0.3, 0.3
NOWHERE = "http://127.0.0.1:9"  # discard port: refused at once

CASES: list[tuple[str, list[str], dict[str, str], float | None]] = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"], {}, None),
    ("ipam --version", [str(BIN / "ipam"), "--version"], {}, TARGET_CLIENT),
    ("ipam network list --help", [str(BIN / "ipam"), "network", "list", "--help"], {}, TARGET_CLIENT),
    ("ipam network list (no server)", [str(BIN / "ipam"), "network", "list"],
     {"IPAM_API_URL": NOWHERE, "IPAM_RETRIES": "0"}, TARGET_CLIENT),
    ("ipam network ip list (no server)", [str(BIN / "ipam"), "network", "ip", "list"],
     {"IPAM_API_URL": NOWHERE, "IPAM_RETRIES": "0"}, TARGET_CLIENT),
    ("ipam history ip --help", [str(BIN / "ipam"), "history", "ip", "--help"], {}, TARGET_CLIENT),
    ("completion of `ipam net`", [str(BIN / "ipam")],
     {"_IPAM_COMPLETE": "complete_bash", "COMP_WORDS": "ipam net", "COMP_CWORD": "1"},
     TARGET_COMPLETION),
    ("completion of `ipam network describe ` (no server)", [str(BIN / "ipam")],
     {"_IPAM_COMPLETE": "complete_bash", "COMP_WORDS": "ipam network describe ", "COMP_CWORD": "3",
      "IPAM_API_URL": NOWHERE}, TARGET_COMPLETION),
]


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    baseline = 0.0
    print(f"{'command':<52} {'median':>8} {'over python':>12}  target")
    for name, argv, env, target in CASES:
        timed(argv, env)  # warm the page cache
        median = statistics.median(timed(argv, env) for _ in range(runs))
        if target is None:
            baseline = median
            print(f"{name:<52} {median * 1000:7.0f}ms {'':>12}")
            continue
        over = median - baseline
        verdict = "PASS" if over <= target else "MISS"
        print(f"{name:<52} {median * 1000:7.0f}ms {over * 1000:10.0f}ms  <= {target * 1000:.0f}ms {verdict}")
    print(f"({runs} runs each, load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
