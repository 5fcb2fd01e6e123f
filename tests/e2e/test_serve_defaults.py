"""`ipam serve` without options listens on the loopback address only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.live import BIN, free_port, stop, wait_healthy

LISTEN = "0A"  # TCP state in /proc/net/tcp


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel writes them) of sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_serve_binds_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path, env={**os.environ, "IPAM_DATABASE_URL": f"sqlite:///{tmp_path / 'i.db'}"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    finally:
        stop(process)
