"""Property: the state computed at every past version, or at the time of that version, equals
the state the application answered right after that change (a fresh SQLite store per example).

Random commands on a small dual-stack setup; after each one every network document a command
returned, every live network as `get_network` reads it, every IP document, and the networks
listed then, are kept; at the end the audit must reproduce each of them from the log.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from application.context import RequestContext
from domain.errors import IpamError
from domain.network_values import NetworkAttributes
from infrastructure.store import Ipam, open_ipam

pytestmark = pytest.mark.integration  # on a real store (snapshots and the history projection are part of what is checked)

SUPER, PLAIN, PARTITION, PROJECT = "super", "plain", "mini-lab", "project"
SUPER_PREFIXES = ["10.0.0.0/24", "2001:db8::/122"]  # four and two default children
PLAIN_PREFIXES = ["192.168.0.0/29", "2001:db8:1::/125"]  # six and seven usable addresses
DEFAULTS = {"IPv4": 26, "IPv6": 123}
KINDS = ("allocate", "free", "acquire", "acquire", "release", "update_ip", "rename")
Command = tuple[str, int, str | None]
commands = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 7), st.sampled_from([None, "IPv4", "IPv6"])),
    min_size=1, max_size=20,
)


class Recorder:
    """Runs commands and keeps every state the application answered."""

    def __init__(self, ipam: Ipam) -> None:
        self.ipam = ipam
        self.app = ipam.app
        self.ctx = RequestContext.new(actor="property", reason="checking the past")
        self.children: list[str] = []
        self.networks: dict[tuple[str, int], dict[str, Any]] = {}
        self.ips: list[dict[str, Any]] = []
        self.listings: list[list[dict[str, Any]]] = []
        self.keep(self.app.create_network(
            context=self.ctx,
            network_id=SUPER,
            prefixes=SUPER_PREFIXES,
            attributes=NetworkAttributes(partition_id=PARTITION, private_super=True, default_child_prefix_length=DEFAULTS),
        ))
        self.keep(self.app.create_network(
            context=self.ctx,
            network_id=PLAIN,
            prefixes=PLAIN_PREFIXES,
            attributes=NetworkAttributes(partition_id=PARTITION),
        ))

    def keep(self, doc: dict[str, Any]) -> None:
        key = (doc["network_id"], doc["version"])
        assert self.networks.setdefault(key, doc) == doc  # one state per version, whoever told it
        assert doc["consumption"]["ipv4"] is not None or doc["consumption"]["ipv6"] is not None

    def held(self) -> list[str]:
        return sorted(d["address"] for d in self.app.list_ips())

    def run(self, kind: str, pick: int, family: str | None) -> bool:
        """Run a command; False when there was nothing to run it on."""
        app, ctx = self.app, self.ctx
        if kind == "allocate":
            child = app.allocate_child_network(
                context=ctx, partition_id=PARTITION, project_id=PROJECT, address_family=family)
            self.children.append(child["network_id"])
            self.keep(child)
        elif kind == "free" and self.children:
            child_id = self.children[pick % len(self.children)]
            self.keep(app.delete_network(child_id, context=ctx, only_child=True))
            self.children.remove(child_id)
        elif kind == "acquire":
            targets = [PLAIN, *self.children]
            self.ips.append(app.acquire_ip(
                context=ctx, network_id=targets[pick % len(targets)], project_id=PROJECT,
                address_family=family))
        elif kind == "release" and self.held():
            held = self.held()
            self.ips.append(app.release_ip(held[pick % len(held)], context=ctx))
        elif kind == "update_ip" and self.held():
            held = self.held()
            self.ips.append(app.update_ip(
                held[pick % len(held)], context=ctx, name=f"name-{pick}", tags=[f"pick={pick}"]))
        elif kind == "rename":
            self.keep(app.update_network(SUPER if pick % 2 else PLAIN, context=ctx, name=f"name-{pick}"))
        else:
            return False
        return True

    def step(self, command: Command) -> None:
        try:
            event(f"{command[0]}: {'done' if self.run(*command) else 'skipped'}")
        except IpamError as error:  # refused (exhausted, in use, family missing): nothing changed
            event(f"{command[0]}: {type(error).__name__}")
        live = [self.app.get_network(i) for i in (SUPER, PLAIN, *self.children)]
        for doc in live:
            self.keep(doc)
        self.listings.append(self.app.list_networks())
        assert {d["network_id"] for d in self.listings[-1]} == {d["network_id"] for d in live}

    def check_the_past(self) -> None:
        audit = self.ipam.audit
        event(f"states checked: {len(self.networks) // 10 * 10}+")
        for (network_id, version), doc in self.networks.items():
            assert audit.get_network_at(network_id, version=version) == doc, (network_id, version)
            assert audit.get_network_at(network_id, at=doc["changed"]) == doc, (network_id, version)
        for ip in self.ips:
            assert audit.get_ip_at(ip["address"], ip["changed"]) == ip
        for listing in self.listings:
            moment = max(d["changed"] for d in listing)  # the last change to a live network
            assert audit.list_networks_at(moment) == listing


@settings(max_examples=25, deadline=None)
@given(script=commands, snapshot_interval=st.sampled_from([2, 500]))
def test_state_at_every_past_version_equals_state_answered_then(
    script: list[Command], snapshot_interval: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="ipam-pit-") as directory:
        ipam = open_ipam(f"sqlite:///{directory}/ipam.db", snapshot_interval=snapshot_interval)
        try:
            recorder = Recorder(ipam)
            for command in script:
                recorder.step(command)
            recorder.check_the_past()
        finally:
            ipam.close()
