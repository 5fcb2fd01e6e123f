"""Random operation sequences against a real store (a SQLite file per example).

A small model (children's prefixes, held IPs) predicts every answer: which block, which address,
which error. After every step the store must agree with the model and with itself: nothing
overlaps, space and counts add up, the read model equals the aggregates, and reopening the store
or rebuilding the read model from the log changes nothing.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from typing import Any
from uuid import UUID

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from application.context import RequestContext
from application.service import IpamApplication
from application.views import network_view
from domain import errors
from domain.network import Network, network_uuid
from domain.network_values import NetworkAttributes
from infrastructure.store import Ipam, open_ipam
from tests.unit.test_allocation_properties import best_fit_oracle, canonical_free

pytestmark = pytest.mark.integration  # on real stores (a rebuild of the read model is part of what is checked)

SUPER, PLAIN, PARTITION, PROJECT = "super", "plain", "mini-lab", "project"
SUPER_PREFIXES = ["10.0.0.0/24", "2001:db8::/122"]  # four and two default children
PLAIN_PREFIXES = ["192.168.0.0/30", "2001:db8:1::/127"]  # two and one usable addresses
DEFAULTS = {"IPv4": 26, "IPv6": 123}  # IPv6 runs out first: all or nothing
OUTSIDE = "172.16.0.0/30"  # in no network

def net(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(prefix)


def family(prefix: str) -> str:
    return f"IPv{net(prefix).version}"


def reserved(prefix: str) -> set[Any]:
    n = net(prefix)
    return {n.network_address, n.broadcast_address} if n.version == 4 else {n.network_address}


def aggregate_state(network: Network) -> tuple[Any, ...]:
    """What replay must reproduce: pools (in order), IPs, children, version, deletion."""
    return (list(network.pools.items()), dict(network.ips.items()),
            dict(network.children.items()), network.version, network.deleted)


def replayed(app: IpamApplication, aggregate_id: UUID) -> Network:
    """The aggregate folded from all of its events, no snapshot and no cache."""
    aggregate: Any = None
    for recorded in app.events.get(aggregate_id):
        aggregate = recorded.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate  # type: ignore[no-any-return]


class IpamMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="ipam-properties-")
        self.url = f"sqlite:///{self.directory}/x.db"
        self.ctx = RequestContext.new(actor="property")
        self.ipam: Ipam | None = None
        self.snapshot_interval = 500
        self.children: dict[str, list[str]] = {}  # live child id -> prefixes
        self.vrfs: dict[str, int] = {}
        self.freed: list[str] = []
        self.held: dict[str, dict[str, Any]] = {}  # address -> its IP document
        self.returned: dict[str, dict[str, Any]] = {}  # id -> last returned doc, while current
        self.changes = 0  # successful commands so far
        self.changes_at = {"reopen": 0, "rebuild": 0}  # when the store was last reopened/rebuilt

    def changed(self, *network_ids: str) -> None:
        """A command succeeded; the docs earlier commands returned for these are stale now."""
        self.changes += 1
        for network_id in network_ids:
            self.returned.pop(network_id, None)

    @property
    def app(self) -> IpamApplication:
        assert self.ipam is not None
        return self.ipam.app

    def prefixes_of(self, network_id: str) -> list[str]:
        return {SUPER: SUPER_PREFIXES, PLAIN: PLAIN_PREFIXES}.get(network_id) or self.children[network_id]

    def held_in(self, network_id: str) -> list[str]:
        return [a for a, doc in self.held.items() if doc["network_id"] == network_id]

    def taken_in(self, prefix: str) -> list[tuple[int, int]]:
        outer = net(prefix)
        return [(int(n.network_address), n.prefixlen) for n in map(net, self.all_child_prefixes())
                if n.version == outer.version and n.subnet_of(outer)]  # type: ignore[arg-type]

    def all_child_prefixes(self) -> list[str]:
        return [p for prefixes in self.children.values() for p in prefixes]

    def free_of(self, prefix: str) -> list[tuple[int, int]]:
        """The super prefix's free space as the model sees it (maximal aligned blocks)."""
        outer = net(prefix)
        return canonical_free(int(outer.network_address), outer.prefixlen, outer.max_prefixlen,
                              self.taken_in(prefix))

    @initialize(snapshot_interval=st.sampled_from([3, 500]))
    def open_store(self, snapshot_interval: int) -> None:
        self.snapshot_interval = snapshot_interval
        self.ipam = open_ipam(self.url, snapshot_interval=snapshot_interval)
        self.returned[SUPER] = self.app.create_network(
            context=self.ctx,
            network_id=SUPER,
            prefixes=SUPER_PREFIXES,
            attributes=NetworkAttributes(partition_id=PARTITION, private_super=True, default_child_prefix_length=DEFAULTS),
        )
        self.returned[PLAIN] = self.app.create_network(
            context=self.ctx,
            network_id=PLAIN,
            prefixes=PLAIN_PREFIXES,
            attributes=NetworkAttributes(partition_id=PARTITION),
        )

    def teardown(self) -> None:
        if self.ipam is not None:
            self.ipam.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- commands ----------------------------------------------------------------------------

    @rule(v4=st.none() | st.integers(24, 32), v6=st.none() | st.integers(122, 128),
          address_family=st.sampled_from([None, "IPv4", "IPv6"]))
    def allocate_child(self, v4: int | None, v6: int | None, address_family: str | None) -> None:
        requested = {k: v for k, v in (("IPv4", v4), ("IPv6", v6)) if v is not None}
        lengths = {**DEFAULTS, **requested}
        expected: list[str] = []
        error: type[Exception] | None = None
        for fam in [address_family] if address_family else ["IPv4", "IPv6"]:
            prefix = next(p for p in SUPER_PREFIXES if family(p) == fam)
            outer, length = net(prefix), lengths[fam]
            if length <= outer.prefixlen:
                error = errors.InvalidRequestError
                break
            start = best_fit_oracle(self.free_of(prefix), length)
            if start is None:
                error = errors.ExhaustedError
                break
            expected.append(str(ipaddress.ip_network((start, length))))
        event(f"allocate_child: {error.__name__ if error else 'allocated'}")
        version: int = self.app.repository.get(network_uuid(SUPER)).version
        kwargs: dict[str, Any] = {"partition_id": PARTITION, "project_id": PROJECT,
                                  "length": requested, "address_family": address_family}
        if error is not None:
            pytest.raises(error, self.app.allocate_child_network, context=self.ctx, **kwargs)
            assert self.app.repository.get(network_uuid(SUPER)).version == version  # nothing
            return
        doc = self.app.allocate_child_network(context=self.ctx, **kwargs)
        assert doc["prefixes"] == expected
        assert doc["parent_id"] == SUPER and doc["network_type"] == "child"
        assert doc["vrf"] == min(set(range(1, len(self.vrfs) + 2)) - set(self.vrfs.values()))
        self.children[doc["network_id"]] = expected
        self.vrfs[doc["network_id"]] = doc["vrf"]
        self.changed(SUPER)
        self.returned[doc["network_id"]] = doc

    @rule(what=st.sampled_from([SUPER, PLAIN, "192.168.0.3"]))
    def refuse_freeing_what_is_not_freeable(self, what: str) -> None:
        if what == "192.168.0.3":  # the plain network's broadcast: never acquired
            pytest.raises(errors.IPNotFoundError, self.app.release_ip, what, context=self.ctx)
        else:
            pytest.raises(errors.InvalidRequestError, self.app.delete_network, what,
                          context=self.ctx, only_child=True)

    @precondition(lambda self: self.children)
    @rule(data=st.data())
    def free_child(self, data: st.DataObject) -> None:
        network_id = data.draw(st.sampled_from(list(self.children)))  # ids are random: keep order
        event(f"free_child: {'InUseError' if self.held_in(network_id) else 'freed'}")
        if self.held_in(network_id):
            pytest.raises(errors.InUseError, self.app.delete_network, network_id, context=self.ctx,
                          only_child=True)
            return
        before = self.app.get_network(network_id)
        assert self.app.delete_network(network_id, context=self.ctx, only_child=True) == before
        del self.children[network_id], self.vrfs[network_id]
        self.freed.append(network_id)
        self.changed(network_id, SUPER)

    @rule(data=st.data())
    def acquire_ip(self, data: st.DataObject) -> None:
        network_id = data.draw(st.sampled_from([PLAIN, *self.children]), label="network")
        prefixes = self.prefixes_of(network_id)
        families = [family(p) for p in prefixes]
        taken = {ipaddress.ip_address(a) for a in self.held} | {
            r for p in prefixes for r in reserved(p)}
        error: type[Exception] | None = None
        address: Any = None
        if data.draw(st.booleans(), label="specific"):
            pool = net(data.draw(st.sampled_from([*prefixes, SUPER_PREFIXES[0], OUTSIDE])))
            address = pool[data.draw(st.integers(0, min(pool.num_addresses, 256) - 1))]
            kwargs: dict[str, Any] = {"specific_ip": str(address)}
            if not any(address in net(p) for p in prefixes):
                error = errors.UnprocessableError
            elif address in taken:
                error = errors.ConflictError
        else:
            asked = data.draw(st.sampled_from([None, "IPv4", "IPv6"]), label="addressfamily")
            kwargs = {"address_family": asked}
            fam = asked or ("IPv4" if "IPv4" in families else "IPv6")
            if fam not in families:
                error = errors.InvalidRequestError
            else:
                free = (a for p in prefixes if family(p) == fam for a in net(p) if a not in taken)
                address = next(free, None)
                error = errors.ExhaustedError if address is None else None
        event(f"acquire_ip: {error.__name__ if error else 'acquired'}")
        kwargs.update(network_id=network_id, project_id=PROJECT)
        if error is not None:
            pytest.raises(error, self.app.acquire_ip, context=self.ctx, **kwargs)
            return
        doc = self.app.acquire_ip(context=self.ctx, **kwargs)
        assert doc["address"] == str(address) and doc["network_id"] == network_id
        assert address in net(doc["prefix"]) and doc["prefix"] in prefixes
        assert doc["family"] == f"IPv{address.version}"
        self.held[doc["address"]] = doc
        self.changed(network_id)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release_ip(self, data: st.DataObject) -> None:
        address = data.draw(st.sampled_from(sorted(self.held)))
        assert self.app.release_ip(address, context=self.ctx) == self.held[address]
        self.changed(self.held.pop(address)["network_id"])

    @precondition(lambda self: self.changes > self.changes_at["reopen"])
    @rule()
    def reopen_store(self) -> None:
        self.changes_at["reopen"] = self.changes
        ids = [SUPER, PLAIN, *self.children, *self.freed]
        before = {i: aggregate_state(self.app.repository.get(network_uuid(i))) for i in ids}
        documents = self.read_documents()
        assert self.ipam is not None
        self.ipam.close()
        self.ipam = open_ipam(self.url, snapshot_interval=self.snapshot_interval)
        for i in ids:
            assert aggregate_state(replayed(self.app, network_uuid(i))) == before[i]
            assert aggregate_state(self.app.repository.get(network_uuid(i))) == before[i]
        assert self.read_documents() == documents

    @precondition(lambda self: self.changes > self.changes_at["rebuild"])
    @rule()
    def rebuild_read_model(self) -> None:
        self.changes_at["rebuild"] = self.changes
        assert self.ipam is not None
        documents = self.read_documents()
        self.ipam.projection.rebuild()
        assert self.read_documents() == documents

    def read_documents(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return {d["network_id"]: d for d in self.app.list_networks()}, self.app.list_ips()

    # -- invariants (one read per step, several checks) --------------------------------------

    @invariant()
    def store_agrees_with_model(self) -> None:
        docs = {d["network_id"]: d for d in self.app.list_networks()}
        assert set(docs) == {SUPER, PLAIN, *self.children}
        self.check_networks_never_overlap(docs)
        self.check_addresses_held_once_inside_their_network(self.app.list_ips())
        self.check_space_and_counts_add_up(docs)
        self.check_read_model_equals_aggregates(docs)

    def check_networks_never_overlap(self, docs: dict[str, dict[str, Any]]) -> None:
        for child_id, prefixes in self.children.items():
            assert docs[child_id]["prefixes"] == prefixes
            assert docs[child_id]["parent_id"] == SUPER
            for p in map(net, prefixes):
                assert any(p.version == s.version and p.subnet_of(s)  # type: ignore[arg-type]
                           for s in map(net, SUPER_PREFIXES))
        owned = [(i, net(p)) for i, d in docs.items() for p in d["prefixes"]]
        for a, (i, p) in enumerate(owned):
            for j, q in owned[a + 1:]:
                if SUPER in (i, j) and (i in self.children or j in self.children):
                    continue  # a child lies inside its super by design
                assert not p.overlaps(q), f"{i} {p} overlaps {j} {q}"

    def check_addresses_held_once_inside_their_network(self, ips: list[dict[str, Any]]) -> None:
        addresses = [d["address"] for d in ips]
        assert len(addresses) == len(set(addresses))
        assert dict(zip(addresses, ips, strict=True)) == self.held
        for doc in ips:
            assert doc["prefix"] in self.prefixes_of(doc["network_id"])
            assert ipaddress.ip_address(doc["address"]) in net(doc["prefix"])
            assert self.app.get_ip(doc["address"]) == doc

    def check_space_and_counts_add_up(self, docs: dict[str, dict[str, Any]]) -> None:
        for network_id, doc in docs.items():
            held = [ipaddress.ip_address(a) for a in self.held_in(network_id)]
            for fam in ("IPv4", "IPv6"):
                mine = [p for p in doc["prefixes"] if family(p) == fam]
                figures, usage = doc["capacity"][fam.lower()], doc["consumption"][fam.lower()]
                if not mine:
                    assert figures is None and usage is None
                    continue
                carved = [p for p in self.all_child_prefixes() if family(p) == fam] \
                    if network_id == SUPER else []
                acquired = sum(1 for a in held if f"IPv{a.version}" == fam)
                assert int(figures["total_ips"]) == sum(net(p).num_addresses for p in mine)
                uncovered_reserved = [r for p in mine for r in reserved(p)
                                      if not any(r in net(c) for c in carved)]
                assert int(figures["free_space"]) + sum(net(p).num_addresses for p in carved) \
                    + acquired + len(uncovered_reserved) == int(figures["total_ips"])
                assert usage["used_ips"] == acquired + sum(len(reserved(p)) for p in mine)
                assert int(figures["acquired_ips"]) == acquired
                assert usage["used_prefixes"] == figures["child_prefixes"] == len(carved)
        parent: Network = self.app.repository.get(network_uuid(SUPER))
        assert dict(parent.children.items()) == {k: tuple(v) for k, v in self.children.items()}
        for prefix, pool in parent.pools.items():
            assert list(pool.free) == self.free_of(prefix)

    def check_read_model_equals_aggregates(self, docs: dict[str, dict[str, Any]]) -> None:
        for network_id, listed in docs.items():
            document = self.app.get_network(network_id)
            assert document == listed
            assert document == network_view(self.app.repository.get(network_uuid(network_id)))
            if network_id in self.returned:
                assert document == self.returned[network_id]


def test_invariants_hold_for_random_operation_sequences() -> None:
    run_state_machine_as_test(
        IpamMachine, settings=settings(max_examples=40, stateful_step_count=20, deadline=None))
