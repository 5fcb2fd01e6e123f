"""The README's walk-throughs, run as a user runs them: every shell block marked
`<!-- walk-through -->`, in the README's order, in one bash session against a live server on a
fresh store, with `ipam` on the PATH. They must follow on from each other without a clash, and
the values the auditor asks about must be ones the walk-through itself produced."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx

from tests.conftest import SEED_PROJECT
from tests.live import BIN, ROOT, ipam_serve

MARKED = re.compile(r"<!-- walk-through -->\n```sh\n(.*?)```", re.DOTALL)
README_URL = "http://127.0.0.1:8080"


def walkthrough() -> str:
    """The marked blocks as one script; the token line is the user's own (set from outside)."""
    blocks = MARKED.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 8, "the README lost its walk-through blocks"
    script = "\n".join(blocks)
    assert "export IPAM_TOKEN=ipam_..." in script
    lines = [line for line in script.splitlines() if not line.startswith("export IPAM_TOKEN=")]
    return "\n".join(lines)


def test_the_readme_walkthroughs_run_in_order_on_a_fresh_store(sqlite_url: str, tmp_path: Path) -> None:
    with ipam_serve(sqlite_url, tmp_path) as live:
        script = walkthrough().replace(README_URL, live.url)
        env = {**os.environ, "IPAM_TOKEN": live.token or "", "IPAM_API_URL": live.url,
               "PATH": f"{BIN}:{os.environ['PATH']}", "COLUMNS": "120", "IPAM_DATABASE_URL": sqlite_url}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        assert "error" not in done.stderr.lower(), done.stderr

        # what the README says the walk-through produces
        http = httpx.Client(base_url=live.url, headers=live.headers)
        networks = {n["name"]: n for n in http.get("/v1/network").json()}
        assert networks["my-node-network"]["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
        assert networks["my-second-network"]["prefixes"] == ["10.0.4.0/22", "2001:db8:0:10:0:1::/96"]
        held = {ip["ipaddress"] for ip in http.get("/v1/ip").json()}
        assert held == {"10.0.0.1", "2001:db8:0:10::1"}  # 10.0.0.2 was released by the auditor's part
        history = http.get("/v1/ip/10.0.0.2/history").json()["events"]
        assert [(e["type"], e["reason"]) for e in history] == [
            ("IPAcquired", "web-1 joins the cluster"), ("IPReleased", "web-1 decommissioned")]
        assert history[0]["facts"]["project_id"] == SEED_PROJECT
        # the past, as the walk-through asked it, printed the holder
        assert "web-1" in done.stdout
