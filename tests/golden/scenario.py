"""The golden logs' scenario: every kind of event the service records, through real HTTP, and
the answers of reads after it.

`python -m tests.golden.scenario DIR` writes into an empty DIR a store (`ipam.db`, SQLite), the
export of its log (`events.jsonl`, format 2 and later), the answers of
reads (`reads.json`) and the secrets of its tokens (`secrets.json`, test data only). Each release
adds its own golden directory beside the earlier ones; `tests/integration/test_golden_logs.py`
loads every one of them with the current code.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from application.context import RequestContext
from infrastructure.store import Ipam, open_ipam

PROJECT = "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"
OTHER = "8e0bd15b-2a1e-4fcd-86cb-ccd1a35bd2e0"
SUPER = {
    "id": "tenant-super", "name": "Project Super Network", "partitionid": "mini-lab",
    "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
    "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96}, "privatesuper": True,
    "labels": {"purpose": "tenants"},
}


def check(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def run(ipam: Ipam) -> tuple[dict[str, str], dict[str, Any]]:
    """Record the scenario; the token secrets and the moments reads are asked at."""
    context = RequestContext.new(actor="golden")
    admin = ipam.tokens.bootstrap(context)
    assert admin is not None
    _, editor = ipam.tokens.issue(context=context, subject="golden-editor", role="editor",
                                  projects=[PROJECT])
    _, viewer = ipam.tokens.issue(context=context, subject="golden-viewer", role="viewer")
    _, leaked = ipam.tokens.issue(context=context, subject="golden-leaked", role="editor",
                                  projects=[OTHER])
    ipam.tokens.revoke(leaked, context=context)
    secrets = {"admin": admin, "editor": editor, "viewer": viewer, "revoked": leaked}
    moments: dict[str, Any] = {}

    def bearer(secret: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}", **more}

    with TestClient(create_app(ipam, follow=False)) as http:
        a, e = bearer(admin), bearer(editor)
        check(http.put("/v1/network", json=SUPER, headers=bearer(admin, **{"X-Change-Reason": "golden super"})), 201)
        check(http.put("/v1/network", json={
            "id": "underlay-mini-lab", "partitionid": "mini-lab", "prefixes": ["10.1.0.0/24"],
            "underlay": True, "name": "underlay"}, headers=a), 201)
        check(http.put("/v1/network", json={
            "id": "internet", "prefixes": ["185.1.2.0/24", "2a02:c00:20::/48"],
            "destinationprefixes": ["0.0.0.0/0", "::/0"], "nat": True, "shared": True,
            "vrf": 104009, "vrfshared": True, "labels": {"network.metal-stack.io/default": ""}},
            headers=a), 201)
        check(http.put("/v1/network", json={
            "id": "internet-2", "prefixes": ["185.1.3.0/24"], "vrf": 104009, "vrfshared": True},
            headers=a), 201)
        dual = check(http.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "dual"},
            headers=bearer(editor, **{"Idempotency-Key": "golden-dual"})), 201)
        v6 = check(http.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "v6-only",
            "addressfamily": "IPv6", "length": {"IPv6": 112}}, headers=e), 201)
        check(http.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "v4-only",
            "addressfamily": "IPv4"}, headers=e), 201)
        ips = []
        for body in (
            {"networkid": dual["id"], "projectid": PROJECT, "name": "v4", "tags": ["a=b"]},
            {"networkid": dual["id"], "projectid": PROJECT, "name": "v6", "addressfamily": "IPv6"},
            {"networkid": v6["id"], "projectid": PROJECT, "name": "v6b", "type": "static"},
            {"networkid": "internet", "projectid": OTHER, "name": "public",
             "machineid": "m-1"},
        ):
            ips.append(check(http.post("/v1/ip/allocate", json=body, headers=a), 201))
        check(http.post("/v1/ip/allocate/10.0.0.77", json={
            "networkid": dual["id"], "projectid": PROJECT, "name": "specific"}, headers=e), 201)
        v6_prefix = next(p for p in dual["prefixes"] if ":" in p)
        specific6 = v6_prefix.split("/")[0] + "abcd"
        check(http.post(f"/v1/ip/allocate/{specific6}", json={
            "networkid": dual["id"], "projectid": PROJECT, "type": "static"}, headers=e), 201)
        time.sleep(0.01)
        moments["after_acquisitions"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        time.sleep(0.01)
        check(http.post("/v1/ip", json={
            "ipaddress": ips[0]["ipaddress"], "name": "v4-renamed", "description": "updated",
            "type": "static", "tags": ["a=c"]}, headers=e))
        check(http.delete(f"/v1/ip/free/{ips[1]['ipaddress']}", headers=e))
        check(http.post("/v1/network", json={
            "id": "tenant-super", "name": "Renamed Super", "labels": {"purpose": "all"},
            "prefixes": ["10.0.0.0/16", "10.2.0.0/16", "2001:db8:0:10::/64"]}, headers=a))
        check(http.post("/v1/network", json={
            "id": "internet", "prefixes": ["185.1.2.0/24", "185.1.4.0/24", "2a02:c00:20::/48"]},
            headers=a))
        check(http.post("/v1/network", json={
            "id": "internet", "prefixes": ["185.1.2.0/24", "2a02:c00:20::/48"]}, headers=a))
        freed = check(http.post("/v1/network/allocate", json={
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "short-lived"}, headers=e), 201)
        check(http.delete(f"/v1/network/free/{freed['id']}", headers=e))
        check(http.delete("/v1/network/internet-2", headers=a))
        check(http.delete("/v1/network/underlay-mini-lab", headers=a))
        check(http.put("/v1/network", json={
            "id": "private-other", "partitionid": "other", "prefixes": ["172.16.0.0/16"],
            "privatesuper": True, "defaultchildprefixlength": {"IPv4": 24}}, headers=a), 201)
        check(http.delete("/v1/network/private-other", headers=a))
        check(http.put("/v1/network", json={
            "id": "internet-2", "prefixes": ["185.1.5.0/24"], "name": "again"}, headers=a), 201)
        check(http.get("/v1/network", headers=bearer(leaked)), 401)
    return secrets, moments


def reads(ipam: Ipam, secrets: dict[str, str], moments: dict[str, Any]) -> dict[str, Any]:
    """The answers of reads (as the admin and as the project's editor)."""
    answers: dict[str, Any] = {"moments": moments}
    with TestClient(create_app(ipam, follow=False)) as http:
        a = {"Authorization": f"Bearer {secrets['admin']}"}
        e = {"Authorization": f"Bearer {secrets['editor']}"}
        networks = check(http.get("/v1/network", headers=a))
        answers["networks"] = networks
        answers["networks_as_editor"] = check(http.get("/v1/network", headers=e))
        answers["ips"] = check(http.get("/v1/ip", headers=a))
        answers["ip_find"] = check(http.post("/v1/ip/find", json={"projectid": PROJECT}, headers=e))
        answers["network_find"] = check(http.post("/v1/network/find", json={
            "partitionid": "mini-lab"}, headers=a))
        answers["history"] = {
            n["id"]: check(http.get(f"/v1/network/{n['id']}/history", params={"limit": 500}, headers=a))
            for n in networks
        }
        answers["ip_history"] = {
            ip["ipaddress"]: check(http.get(f"/v1/ip/{ip['ipaddress']}/history", headers=a))
            for ip in answers["ips"]
        }
        answers["prefix_history"] = check(http.get(
            "/v1/prefix/history", params={"cidr": "10.0.0.0/8"}, headers=a))
        at = moments["after_acquisitions"]
        answers["networks_at"] = check(http.get("/v1/network", params={"at": at}, headers=a))
        answers["ips_at"] = check(http.get("/v1/ip", params={"at": at}, headers=a))
    return answers


def main(directory: str) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=False)
    # snapshots every few versions, so that the golden store holds some of each aggregate
    ipam = open_ipam(f"sqlite:///{target / 'ipam.db'}", snapshot_interval=4)
    try:
        secrets, moments = run(ipam)
        answers = reads(ipam, secrets, moments)
        from infrastructure.transfer import export

        if "format" in next(iter(export(ipam)), {}):
            with (target / "events.jsonl").open("w") as out:
                for record in export(ipam):
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    finally:
        ipam.close()
    import sqlite3

    with sqlite3.connect(target / "ipam.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    sqlite3.connect(target / "ipam.db").execute("VACUUM").connection.close()
    (target / "ipam.db.lock").unlink(missing_ok=True)
    (target / "reads.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    (target / "secrets.json").write_text(json.dumps(secrets, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
