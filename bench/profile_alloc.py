"""Where an allocation's time goes in the server: py-spy samples `ipam serve` (SQLite, one
worker) while wrk allocates on one connection, and the samples are summed per function
(inclusive) and per thread. A program, not a test.

    .venv/bin/python bench/profile_alloc.py [--seconds 10] [--connections 1] [--top 40]
    .venv/bin/python bench/profile_alloc.py --postgres --connections 4   # `--workers 2`

py-spy is installed with pip into this environment when missing (it needs ptrace: root, or
`kernel.yama.ptrace_scope=0`). Idle samples (threads waiting on a lock, a socket or a
condition) are left out, so the shares are of the busy samples.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from common import postgres_scratch
from wrk_alloc import IPAM, NETWORKS, admin_token, create_networks, ensure_wrk, run_wrk, server

IDLE = ("wait (threading.py", "select (selectors.py", "_worker (concurrent", "run_forever",
        "acquire (", "sleep", "get (queue.py", "poll (")


def py_spy() -> str:
    found = Path(sys.executable).parent / "py-spy"
    if not found.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(found)


def summarise(raw: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if frames and any(marker in frames[-1] for marker in IDLE):
            continue
        count = int(count_text)
        busy += count
        threads[frames[0]] += count
        names = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0]
                 for frame in frames[1:]]
        for name in set(names):
            inclusive[name] += count
        if names:
            leaves[names[-1]] += count
    print(f"busy samples: {busy}")
    print("\nper thread:")
    for name, count in threads.most_common():
        print(f"  {100 * count / busy:5.1f}%  {name}")
    print(f"\ntop {top} functions (inclusive share of busy samples):")
    for name, count in inclusive.most_common(top):
        print(f"  {100 * count / busy:5.1f}%  {name}")
    print(f"\ntop {top} functions by own samples (the innermost frame):")
    for name, count in leaves.most_common(top):
        print(f"  {100 * count / busy:5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=1, choices=range(1, 5))
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", type=Path, help="also keep py-spy's raw stacks in this file")
    parser.add_argument("--postgres", action="store_true",
                        help="`ipam serve --workers 2` on a scratch PostgreSQL database")
    args = parser.parse_args()
    wrk, spy = ensure_wrk(), py_spy()
    with tempfile.TemporaryDirectory(prefix="ipam-profile-") as work:
        logs = Path(work)
        url_db = f"sqlite:///{logs / 'ipam.db'}"
        argv = [str(IPAM), "serve"]
        if args.postgres:
            scratch = postgres_scratch("ipam_bench_profile", create=True)
            if scratch is None:
                return 1
            url_db, argv = scratch, [*argv, "--workers", "2"]
        token = admin_token(url_db)
        env = {**os.environ, "IPAM_DATABASE_URL": url_db}
        with server(argv, env, logs / "server.log") as (url, group):
            create_networks(url, token)
            raw = logs / "profile.txt"
            spying = subprocess.Popen(
                [spy, "record", "-p", str(group), "-d", str(int(args.seconds)), "-r", "200",
                 "--format", "raw", "--threads", "--subprocesses", "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            load = threading.Thread(target=run_wrk, args=(
                wrk, "profiled", url, group, token, NETWORKS[:args.connections],
                args.seconds + 2, logs))
            load.start()
            load.join()
            _, error = spying.communicate(timeout=60)
            if spying.returncode != 0:
                print(error.decode(), file=sys.stderr)
                return 1
        summarise(raw, args.top)
        if args.raw:
            args.raw.write_text(raw.read_text())
        if args.postgres:
            postgres_scratch("ipam_bench_profile", create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
