"""`ipam network ...` against a live server: create (file, list, several documents, stdin,
flags), allocate, free, delete, update, list with filters, describe now and in the past, and the
table, wide, YAML and JSON outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.conftest import Cli, table, unique

ESC = "\x1b["


def super_network(partition: str, v4: str = "10.1.0.0/16", v6: str = "2001:db8:1::/56",
                  **extra: Any) -> dict[str, Any]:
    return {"id": unique("super"), "name": "super", "partitionid": partition,
            "prefixes": [v4, v6], "defaultchildprefixlength": {"IPv4": 24, "IPv6": 64},
            "privatesuper": True, **extra}


def create(cli: Cli, tmp_path: Path, *networks: dict[str, Any]) -> list[dict[str, Any]]:
    path = tmp_path / f"{unique('networks')}.json"
    path.write_text(json.dumps(list(networks)))
    created: list[dict[str, Any]] = cli.json("network", "create", "-f", str(path))
    return created


def allocate(cli: Cli, partition: str, project: str, *args: str) -> dict[str, Any]:
    allocated: dict[str, Any] = cli.json("network", "allocate", "--partition", partition,
                                         "--project", project, "--name", unique("child"), *args)
    return allocated


# create -------------------------------------------------------------------------------------------

def test_create_from_a_json_list_creates_each_in_order(cli: Cli, tmp_path: Path) -> None:
    partition = unique("p")
    first = super_network(partition)
    second: dict[str, Any] = {"id": unique("internet"), "prefixes": ["185.1.2.0/24"], "nat": True,
              "destinationprefixes": ["0.0.0.0/0"]}
    created = create(cli, tmp_path, first, second)
    assert [n["id"] for n in created] == [first["id"], second["id"]]
    assert created[0]["defaultchildprefixlength"] == {"IPv4": 24, "IPv6": 64}
    assert created[1]["nat"] is True and created[1]["destinationprefixes"] == ["0.0.0.0/0"]
    assert cli.json("network", "describe", second["id"])["prefixes"] == ["185.1.2.0/24"]


def test_create_from_several_yaml_documents_and_from_stdin(cli: Cli, tmp_path: Path) -> None:
    ids = [unique("doc"), unique("doc"), unique("stdin")]
    text = (f"---\nid: {ids[0]}\nprefixes:\n- 10.201.0.0/24\n...\n"
            f"---\nid: {ids[1]}\nprefixes: [10.202.0.0/24]\nlabels: {{team: a}}\n")
    (tmp_path / "two.yaml").write_text(text)
    created = cli.json("network", "create", "-f", str(tmp_path / "two.yaml"))
    assert [n["id"] for n in created] == ids[:2]
    assert created[1]["labels"] == {"team": "a"}
    from_stdin = cli.json("network", "create", "-f", "-",
                          input=json.dumps({"id": ids[2], "prefixes": ["10.203.0.0/24"]}))
    assert from_stdin["id"] == ids[2]  # one network in, one document out


def test_create_from_flags(cli: Cli) -> None:
    network_id = unique("flags")
    created = cli.json("network", "create", "--id", network_id, "--name", "flags",
                       "--partition", unique("p"), "--prefixes", "10.204.0.0/16,2001:db8:204::/48",
                       "--privatesuper", "--labels", "a=1,b=2",
                       "--default-ipv4-child-prefix-length", "26",
                       "--default-ipv6-child-prefix-length", "64")
    assert created["id"] == network_id and created["privatesuper"] is True
    assert created["prefixes"] == ["10.204.0.0/16", "2001:db8:204::/48"]
    assert created["labels"] == {"a": "1", "b": "2"}
    assert created["defaultchildprefixlength"] == {"IPv4": 26, "IPv6": 64}


def test_create_stops_at_the_first_refusal_after_printing_those_created(cli: Cli, tmp_path: Path) -> None:
    ok, clash, never = unique("ok"), unique("clash"), unique("never")
    networks = [{"id": ok, "prefixes": ["10.205.0.0/24"]},
                {"id": clash, "prefixes": ["10.205.0.128/25"]},  # overlaps the first
                {"id": never, "prefixes": ["10.206.0.0/24"]}]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(networks))
    result = cli("network", "create", "-f", str(path), "-o", "json")
    assert result.exit_code == 1
    assert [n["id"] for n in json.loads(result.stdout)] == [ok]
    stderr = " ".join(result.stderr.split())
    assert f"network 2 of 3 ({clash}) was not created:" in stderr
    assert "overlap" in stderr and "(HTTP 422)" in stderr
    assert "not found" in cli.fails(1, "network", "describe", never)


def test_create_rejects_files_that_do_not_hold_networks(cli: Cli, tmp_path: Path) -> None:
    cases = {"broken.yaml": ("id: [x\n", "does not parse as YAML or JSON"),
             "scalars.yaml": ("- 1\n- 2\n", "entry 1 is not a network"),
             "empty.yaml": ("", "holds no network"),
             "binary.yaml": (None, "is not UTF-8 text")}
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xfe\x00id")
        else:
            path.write_text(text)
        assert message in cli.fails(2, "network", "create", "-f", str(path)), name
    assert "cannot read" in cli.fails(2, "network", "create", "-f", str(tmp_path / "missing.yaml"))
    assert "not both" in cli.fails(2, "network", "create", "-f", str(tmp_path / "empty.yaml"),
                                   "--id", "x")
    assert "give a file" in cli.fails(2, "network", "create")


def test_create_refused_by_the_server_prints_its_message(cli: Cli) -> None:
    message = cli.fails(1, "network", "create", "--id", unique("bad"), "--prefixes", "10.0.0.1/24")
    assert message.startswith("Error: ") and "(HTTP 400)" in message


# allocate, free, delete ---------------------------------------------------------------------------

def test_allocate_takes_every_option(cli: Cli, tmp_path: Path) -> None:
    partition, project = unique("p"), unique("project")
    create(cli, tmp_path, super_network(partition, "10.2.0.0/16", "2001:db8:2::/56"))
    child = cli.json("network", "allocate", "--partition", partition, "--project", project,
                     "--name", "web", "--description", "web tier", "--labels", "tier=web",
                     "--labels", "env=prod", "--shared", "--addressfamily", "IPv6",
                     "--ipv6-prefix-length", "60")
    assert (child["name"], child["description"], child["projectid"]) == ("web", "web tier", project)
    assert child["labels"] == {"tier": "web", "env": "prod"} and child["shared"] is True
    assert child["prefixes"] == ["2001:db8:2::/60"]
    v4 = allocate(cli, partition, project, "--ipv4-prefix-length", "28", "--addressfamily", "ipv4")
    assert v4["prefixes"] == ["10.2.0.0/28"]


def test_free_returns_the_prefixes_to_the_super_network(cli: Cli, tmp_path: Path) -> None:
    partition, project = unique("p"), unique("project")
    (parent,) = create(cli, tmp_path, super_network(partition, "10.3.0.0/16", "2001:db8:3::/56"))
    child = allocate(cli, partition, project)
    assert cli.json("network", "describe", parent["id"])["consumption"]["ipv4"]["used_prefixes"] == 1
    freed = cli.json("network", "free", child["id"])
    assert freed["id"] == child["id"]
    assert cli.json("network", "describe", parent["id"])["consumption"]["ipv4"]["used_prefixes"] == 0
    assert "not found" in cli.fails(1, "network", "describe", child["id"])
    message = cli.fails(1, "network", "free", parent["id"])  # a super is not a child
    assert "(HTTP 4" in message


def test_delete_removes_a_network_and_prints_it(cli: Cli) -> None:
    network_id = unique("gone")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.207.0.0/24")
    rows = table(cli.ok("network", "delete", network_id).stdout)
    assert rows[1][0] == network_id
    assert f'network with id "{network_id}" not found (HTTP 404)' in cli.fails(
        1, "network", "delete", network_id)


# update -------------------------------------------------------------------------------------------

def test_update_changes_exactly_what_is_given(cli: Cli, tmp_path: Path) -> None:
    partition = unique("p")
    (network,) = create(cli, tmp_path, super_network(partition, "10.4.0.0/16", "2001:db8:4::/56",
                                                     destinationprefixes=["0.0.0.0/0"]))
    network_id = network["id"]
    updated = cli.json("network", "update", network_id, "--name", "renamed", "--description", "d",
                       "--labels", "k=v", "--shared",
                       "--add-prefixes", "10.5.0.0/16", "--add-prefixes", "2001:db8:5::/56",
                       "--remove-prefixes", "2001:db8:4::/56",
                       "--add-destinationprefixes", "::/0",
                       "--remove-destinationprefixes", "0.0.0.0/0",
                       "--default-ipv6-child-prefix-length", "80")
    assert (updated["name"], updated["description"], updated["labels"]) == ("renamed", "d", {"k": "v"})
    assert updated["shared"] is True
    assert updated["prefixes"] == ["10.4.0.0/16", "10.5.0.0/16", "2001:db8:5::/56"]
    assert updated["destinationprefixes"] == ["::/0"]
    assert updated["defaultchildprefixlength"] == {"IPv4": 24, "IPv6": 80}  # IPv4 kept
    assert "not possible to unshare it (HTTP 400)" in cli.fails(
        1, "network", "update", network_id, "--not-shared")
    assert cli.json("network", "describe", network_id)["shared"] is True


def test_update_refuses_what_it_cannot_do(cli: Cli, tmp_path: Path) -> None:
    network_id = unique("upd")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.208.0.0/24")
    assert "10.9.0.0/16 is not among the prefixes" in cli.fails(
        2, "network", "update", network_id, "--remove-prefixes", "10.9.0.0/16")
    assert "nothing to update" in cli.fails(2, "network", "update", network_id)
    assert "not found (HTTP 404)" in cli.fails(1, "network", "update", unique("none"), "--name", "x")


# list ---------------------------------------------------------------------------------------------

def test_list_filters_select_exactly_the_matching_networks(cli: Cli, tmp_path: Path) -> None:
    partition, project, other = unique("p"), unique("project"), unique("project")
    (parent,) = create(cli, tmp_path, super_network(partition, "10.6.0.0/16", "2001:db8:6::/56"))
    both = allocate(cli, partition, project, "--labels", "role=db")
    v6 = allocate(cli, partition, other, "--addressfamily", "IPv6")

    def ids(*filters: str) -> set[str]:
        return {n["id"] for n in cli.json("network", "list", *filters)}

    assert ids("--partition", partition) == {parent["id"], both["id"], v6["id"]}
    assert ids("--project", project) == {both["id"]}
    assert ids("--parent", parent["id"]) == {both["id"], v6["id"]}
    assert ids("--partition", partition, "--addressfamily", "IPv4") == {parent["id"], both["id"]}
    assert ids("--partition", partition, "--labels", "role=db") == {both["id"]}
    assert ids("--partition", partition, "--privatesuper") == {parent["id"]}
    assert ids("--partition", partition, "--no-privatesuper") == {both["id"], v6["id"]}
    assert ids("--name", both["name"]) == {both["id"]}
    assert ids("--id", v6["id"]) == {v6["id"]}
    assert ids("--prefixes", both["prefixes"][0]) == {both["id"]}
    assert ids("--partition", unique("nowhere")) == set()


def test_list_draws_children_under_their_parent_with_metalctl_columns(cli: Cli, tmp_path: Path) -> None:
    partition, project = unique("p"), unique("project")
    (parent,) = create(cli, tmp_path, super_network(partition, "10.7.0.0/16", "2001:db8:7::/56"))
    first, second = allocate(cli, partition, project), allocate(cli, partition, project)
    rows = table(cli.ok("network", "list", "--partition", partition).stdout)
    assert rows[0] == ["ID", "NAME", "PROJECT", "PARTITION", "NAT", "SHARED", "PREFIXES", "IPS"]
    children = [n["id"] for n in cli.json("network", "list", "--partition", partition)
                if n["parentnetworkid"]]  # in the API's order
    assert sorted(children) == sorted([first["id"], second["id"]])
    assert [r[0] for r in rows[1:]] == [parent["id"], "├─╴" + children[0], "└─╴" + children[1]]
    child = rows[1 + 1 + children.index(first["id"])]
    assert child[1:7] == [first["name"], project, partition, "false", "false",
                          "10.7.0.0/24,2001:db8:7::/64"]
    assert child[7:] == ["● IPv4 2/256", "IPv6 1/18446744073709551616"]  # exact, as `capacity`


def test_wide_shows_description_usage_per_family_private_super_and_labels(cli: Cli, tmp_path: Path) -> None:
    partition = unique("p")
    (parent,) = create(cli, tmp_path, super_network(partition, "10.8.0.0/16", "2001:db8:8::/56",
                                                    description="the super", labels={"b": "2", "a": "1"}))
    out = cli.ok("network", "describe", parent["id"], "-o", "wide").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "DESCRIPTION", "NAME", "PROJECT", "PARTITION", "NAT", "SHARED",
                                "PREFIXES", "USAGE", "PRIVATESUPER", "ANNOTATIONS"]
    assert lines[1].split() == [parent["id"], "the", "super", "super", partition, "false", "false",
                                "10.8.0.0/16", "IPv4", "IPs:", "2", "used", "of", "65536", "(0",
                                "acquired,", "2", "reserved)", "true", "a=1"]
    # every figure labelled, and the same as `capacity` (not go-ipam's 0/16384 prefixes)
    assert "IPv4 children: 0 allocated, 256 more /24 fit" in lines[2] and "b=2" in lines[2]
    assert lines[2].split()[0] == "2001:db8:8::/56"  # a lone network: no tree line
    v6 = cli.json("network", "describe", parent["id"])["capacity"]["ipv6"]
    assert v6["total_ips"] == str(2 ** 72) and v6["free_child_prefixes"] == "256"
    assert any(f"IPv6 IPs: 1 used of {2 ** 72} (0 acquired, 1 reserved)" in line for line in lines)
    assert any("IPv6 children: 0 allocated, 256 more /64 fit" in line for line in lines)


def test_usage_symbol_is_coloured_by_the_fullest_family(cli: Cli) -> None:
    network_id, project = unique("small"), unique("project")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.209.0.0/29,2001:db8:209::/120",
           "--project", project)

    def dot() -> str:
        result = cli("network", "describe", network_id, "-o", "table",
                     env={"NO_COLOR": None, "FORCE_COLOR": "1"})
        assert result.exit_code == 0, result.stderr
        (colour,) = re.findall(r"\x1b\[(\d+)m●", result.stdout)
        return {"31": "red", "32": "green", "33": "yellow"}[colour]

    assert dot() == "green"  # IPv4 2/8 used (network and broadcast), IPv6 1/256
    for _ in range(4):
        cli.ok("network", "ip", "create", "--network", network_id, "--project", project)
    assert dot() == "yellow"  # 6/8
    for _ in range(2):
        cli.ok("network", "ip", "create", "--network", network_id, "--project", project)
    assert dot() == "red"  # 8/8, while IPv6 is nearly empty

    v6_only, = [unique("v6")]
    cli.ok("network", "create", "--id", v6_only, "--prefixes", "10.210.0.0/24,2001:db8:210::/126",
           "--project", project)
    for _ in range(3):
        cli.ok("network", "ip", "create", "--network", v6_only, "--project", project,
               "--addressfamily", "IPv6")
    result = cli("network", "describe", v6_only, "-o", "table", env={"NO_COLOR": None, "FORCE_COLOR": "1"})
    assert f"{ESC}31m●" in result.stdout  # IPv6 4/4 is the fullest, IPv4 2/256 is not


# describe and the output formats ------------------------------------------------------------------

def test_json_output_is_the_api_document_and_yaml_the_same_fields(cli: Cli, tmp_path: Path) -> None:
    (network,) = create(cli, tmp_path, super_network(unique("p"), "10.9.0.0/16", "2001:db8:9::/56"))
    from_api = httpx.get(f"{cli.url}/v1/network/{network['id']}", headers={"Authorization": f"Bearer {cli.token}"}).json()
    assert cli.json("network", "describe", network["id"]) == from_api
    as_yaml = yaml.safe_load(cli.ok("network", "describe", network["id"]).stdout)  # yaml by default
    assert as_yaml == from_api
    listed = yaml.safe_load(cli.ok("network", "list", "--id", network["id"], "-o", "yaml").stdout)
    assert listed == [from_api]


def test_describe_at_a_time_or_version_shows_the_network_as_it_was(cli: Cli) -> None:
    network_id = unique("past")
    created = cli.json("network", "create", "--id", network_id, "--name", "before",
                       "--prefixes", "10.211.0.0/24")
    cli.ok("network", "update", network_id, "--name", "after")
    then = cli.json("network", "describe", network_id, "--at", created["changed"])
    assert then["name"] == "before"
    assert cli.json("network", "describe", network_id, "--version", "1")["prefixes"] == []
    assert cli.json("network", "describe", network_id)["name"] == "after"
    assert "has no offset" in cli.fails(2, "network", "describe", network_id, "--at", "2026-03-03T12:00:00")
    assert "not an RFC 3339 time" in cli.fails(2, "network", "describe", network_id, "--at", "March")
    assert "not both" in cli.fails(2, "network", "describe", network_id, "--at",
                                   created["changed"], "--version", "1")


def test_list_at_a_time_shows_networks_since_deleted(cli: Cli) -> None:
    network_id = unique("was")
    created = cli.json("network", "create", "--id", network_id, "--prefixes", "10.212.0.0/24")
    cli.ok("network", "delete", network_id)
    assert cli.json("network", "list", "--id", network_id) == []
    then = cli.json("network", "list", "--at", created["changed"], "--id", network_id)
    assert [n["id"] for n in then] == [network_id]
    assert "cannot be combined with --at" in cli.fails(
        2, "network", "list", "--at", created["changed"], "--labels", "a=b")


def test_an_unknown_output_format_is_a_usage_error(cli: Cli) -> None:
    assert "xml" in cli.fails(2, "network", "list", "-o", "xml")
