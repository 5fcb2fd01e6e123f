"""The seed's walk-through (shared/seed/dual-stack-support.md) with `ipam` in place of
`metalctl`: the three commands as written, through the real console script, against a live
server on SQLite and on PostgreSQL; `describe` shows the seed's layout and consumption block."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.conftest import SEED_PROJECT
from tests.live import BIN, Live, ipam_serve

# tenant-super.yaml as the seed writes it, `---` and `...` included
TENANT_SUPER_YAML = """\
---
id: tenant-super-network-mini-lab
name: Project Super Network
description: Super network of all project networks
partitionid: mini-lab
prefixes:
- 10.0.0.0/16
- 2001:db8:0:10::/64
defaultchildprefixlength:
  IPv4: 22
  IPv6: 96
privatesuper: true
...
"""

# the allocation the seed shows, in its order (vrf is the pool's pick: checked apart)
SEED_KEYS = ["id", "name", "parentnetworkid", "partitionid", "prefixes", "projectid", "vrf",
             "consumption", "privatesuper"]
SEED_CONSUMPTION = {
    "ipv4": {"available_ips": 1024, "available_prefixes": 256, "used_ips": 2, "used_prefixes": 0},
    "ipv6": {"available_ips": 2147483647, "available_prefixes": 1073741824, "used_ips": 1,
             "used_prefixes": 0},
}


def run(command: str, cwd: Path, live: Live) -> subprocess.CompletedProcess[str]:
    """A command line as a user types it, `ipam` being the project's console script, with the
    server's address and a token in the environment as the README says."""
    args = command.split()
    assert args[0] == "ipam"
    env = {**os.environ, "IPAM_API_URL": live.url, "IPAM_TOKEN": live.token or "", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "ipam"), *args[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_seed_walkthrough_works_as_written_with_ipam(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "tenant-super.yaml").write_text(TENANT_SUPER_YAML)
    with ipam_serve(db_url, tmp_path) as live:
        created = run("ipam network create -f tenant-super.yaml", tmp_path, live)
        assert created.returncode == 0, created.stderr
        assert created.stdout.splitlines()[1].split()[:2] == ["tenant-super-network-mini-lab", "Project"]

        allocated = run("ipam network allocate --partition mini-lab "
                        f"--project {SEED_PROJECT} --name my-node-network", tmp_path, live)
        assert allocated.returncode == 0, allocated.stderr
        header, row = allocated.stdout.splitlines()
        assert header.split() == ["ID", "NAME", "PROJECT", "PARTITION", "NAT", "SHARED", "PREFIXES", "IPS"]
        network_id, name, project, partition, nat, shared, prefixes, *usage = row.split()
        assert (name, project, partition, nat, shared) == (
            "my-node-network", SEED_PROJECT, "mini-lab", "false", "false")
        assert prefixes == "10.0.0.0/22,2001:db8:0:10::/96"
        assert usage == ["●", "IPv4", "2/1024", "IPv6", "1/4294967296"]  # exact: a /96, as `capacity`

        described = run(f"ipam network describe {network_id}", tmp_path, live)
        assert described.returncode == 0, described.stderr
        document = yaml.safe_load(described.stdout)
        keys = list(document)
        assert [k for k in keys if k in SEED_KEYS] == SEED_KEYS  # the seed's order
        assert keys[:len(SEED_KEYS) + 1] == ["id", "name", "description", *SEED_KEYS[2:]]
        assert document["parentnetworkid"] == "tenant-super-network-mini-lab"
        assert document["partitionid"] == "mini-lab"
        assert document["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
        assert document["projectid"] == SEED_PROJECT
        assert isinstance(document["vrf"], int) and document["vrf"] >= 1
        assert document["consumption"] == SEED_CONSUMPTION
        assert document["privatesuper"] is False
        assert "consumption:\n  ipv4:\n    available_ips: 1024\n    available_prefixes: 256\n" \
               "    used_ips: 2\n    used_prefixes: 0\n  ipv6:\n" in described.stdout

        acquired = run(f"ipam network ip create --network {network_id} --project {SEED_PROJECT}",
                       tmp_path, live)
        assert acquired.returncode == 0, acquired.stderr
        assert acquired.stdout.splitlines()[1].split() == [
            "10.0.0.1", network_id, SEED_PROJECT, "ephemeral"]

        after = json.loads(run(f"ipam network describe {network_id} -o json", tmp_path, live).stdout)
        assert after["consumption"]["ipv4"]["used_ips"] == 3
        assert after["consumption"]["ipv6"] == SEED_CONSUMPTION["ipv6"]
