"""The seed document's example, over real HTTP (ASGI), digit for digit."""

from __future__ import annotations

from typing import Any

from tests.conftest import SEED_PROJECT, SEED_SUPER


def test_seed_example_reproduces_exactly(client: Any) -> None:
    created = client.put("/v1/network", json=SEED_SUPER)
    assert created.status_code == 201, created.text
    assert created.json()["networktype"] == "super"

    allocated = client.post(
        "/v1/network/allocate",
        json={"partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "my-node-network"},
    )
    assert allocated.status_code == 201, allocated.text
    child = allocated.json()
    assert child["name"] == "my-node-network"
    assert child["parentnetworkid"] == "tenant-super-network-mini-lab"
    assert child["partitionid"] == "mini-lab"
    assert child["projectid"] == SEED_PROJECT
    assert child["prefixes"] == ["10.0.0.0/22", "2001:db8:0:10::/96"]
    assert child["privatesuper"] is False
    assert isinstance(child["vrf"], int) and child["vrf"] >= 1
    assert child["consumption"] == {
        "ipv4": {"available_ips": 1024, "available_prefixes": 256, "used_ips": 2, "used_prefixes": 0},
        "ipv6": {"available_ips": 2147483647, "available_prefixes": 1073741824, "used_ips": 1,
                 "used_prefixes": 0},
    }
    # the read side answers the same right after the 201 (read-your-writes)
    assert client.get(f"/v1/network/{child['id']}").json()["consumption"] == child["consumption"]

    parent = client.get("/v1/network/tenant-super-network-mini-lab").json()
    assert parent["consumption"] == {
        "ipv4": {"available_ips": 65536, "available_prefixes": 16128, "used_ips": 2, "used_prefixes": 1},
        "ipv6": {"available_ips": 2147483647, "available_prefixes": 2147483647, "used_ips": 1,
                 "used_prefixes": 1},
    }
    assert parent["usage"] == parent["consumption"]["ipv4"]

    ipv4 = client.post("/v1/ip/allocate", json={"networkid": child["id"], "projectid": SEED_PROJECT})
    assert ipv4.status_code == 201, ipv4.text
    assert ipv4.json()["ipaddress"] == "10.0.0.1"
    assert ipv4.json()["type"] == "ephemeral"
    ipv6 = client.post(
        "/v1/ip/allocate",
        json={"networkid": child["id"], "projectid": SEED_PROJECT, "addressfamily": "IPv6"},
    )
    assert ipv6.status_code == 201, ipv6.text
    assert ipv6.json()["ipaddress"] == "2001:db8:0:10::1"

    after = client.get(f"/v1/network/{child['id']}").json()["consumption"]
    assert after["ipv4"]["used_ips"] == 3
    assert after["ipv6"]["used_ips"] == 2
    assert client.get("/v1/ip/10.0.0.1").json()["allocationuuid"] == ipv4.json()["allocationuuid"]
