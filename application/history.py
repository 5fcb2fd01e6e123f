"""Auditing use cases: history pages and the state of networks and IPs at a past moment.

Past states are computed from the log: the history projection says which version a network had
at a time, and the aggregate is rebuilt from its events up to that version (snapshots help), so
the answer is exact and consumption is included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.access import Principal, visible_network
from application.ports import History, HistoryPage, HistoryQuery
from application.service import IpamApplication
from application.views import network_view
from domain.addressing import parse_address, parse_prefix
from domain.errors import InvalidRequestError, IPNotFoundError, NetworkNotFoundError
from domain.network import Network, network_uuid
from domain.versions import type_name


class Audit:
    """Answers an auditor's questions from the event log and the history projection."""

    def __init__(self, app: IpamApplication, history: History) -> None:
        self.app = app
        self.history = history

    def _history(self) -> History:
        self.history.catch_up()
        return self.history

    def network_history(self, network_id: str, query: HistoryQuery,
                        principal: Principal | None = None) -> HistoryPage:
        """The network's events (all its lives); NetworkNotFoundError when it never existed or
        the principal may not see it."""
        history = self._history()
        aggregate_id = str(network_uuid(network_id))
        if not history.network_exists(aggregate_id):
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        scope = Scope.of(principal, history)
        if scope is not None and not scope.principal.sees_network(
                scope.network_project(network_id, None)):
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        return _scoped(lambda q: history.network_history(aggregate_id, q), query, scope)

    def ip_history(self, address: str, query: HistoryQuery,
                   principal: Principal | None = None) -> HistoryPage:
        """Every acquisition, update and release of an address, across networks and time (of
        the principal's projects only, when it is bound to some)."""
        history = self._history()
        canonical = str(parse_address(address))
        return _scoped(lambda q: history.ip_history(canonical, q), query,
                       Scope.of(principal, history))

    def prefix_history(self, cidr: str, query: HistoryQuery,
                       principal: Principal | None = None) -> HistoryPage:
        """Everything that touched addresses inside the CIDR (a strict, canonical prefix)."""
        history = self._history()
        canonical = str(parse_prefix(cidr))
        return _scoped(lambda q: history.prefix_history(canonical, q), query,
                       Scope.of(principal, history))

    def get_network_at(
        self, network_id: str, *, at: datetime | None = None, version: int | None = None,
        principal: Principal | None = None,
    ) -> dict[str, Any]:
        """The network as it was at a time or a version, consumption included (not found when
        the principal may not see it)."""
        if (at is None) == (version is None):
            raise InvalidRequestError("give exactly one of at and version")
        scope = Scope.of(principal, self._history())
        if scope is not None and not scope.principal.sees_network(scope.network_project(network_id, None)):
            # what an id that never existed gets: nothing tells whether another project's does
            if at is not None:
                raise NetworkNotFoundError(f'network with id "{network_id}" did not exist at {at.isoformat()}')
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        aggregate_id = network_uuid(network_id)
        if at is not None:
            version = self._history().version_at(str(aggregate_id), at)
            if version is None:
                raise NetworkNotFoundError(f'network with id "{network_id}" did not exist at {at.isoformat()}')
        assert version is not None
        if version < 1:
            raise InvalidRequestError("version must be at least 1")
        try:
            network: Network = self.app.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found') from None
        if network.version < version:
            raise NetworkNotFoundError(
                f'network with id "{network_id}" has no version {version} (latest is {network.version})'
            )
        if network.deleted:
            raise NetworkNotFoundError(f'network with id "{network_id}" was deleted at version {version}')
        view = network_view(network)
        visible_network(principal, view, network_id)
        return view

    def list_networks_at(self, at: datetime, principal: Principal | None = None) -> list[dict[str, Any]]:
        """Every network that existed at `at` and that the principal may see, as it was then."""
        views = []
        for _, aggregate_id, version in self._history().networks_at(at):
            network: Network = self.app.repository.get(UUID(aggregate_id), version=version)
            if principal is None or principal.sees_network(network.project_id):
                views.append(network_view(network))
        return views

    def get_ip_at(self, address: str, at: datetime, principal: Principal | None = None) -> dict[str, Any]:
        """Who held the address at `at`, with the IP's details then."""
        canonical = str(parse_address(address))
        held: dict[str, Any] | None = None
        for record in self._history().ip_events_until(canonical, at):
            facts, moment = record["facts"], datetime.fromisoformat(record["time"])
            if record["type"] == ACQUIRED:
                held = {
                    "address": canonical, "allocation_uuid": facts["allocation_uuid"],
                    "network_id": record["network"], "project_id": facts["project_id"],
                    "name": facts["name"], "description": facts["description"],
                    "type": facts["type"], "tags": list(facts["tags"]),
                    "family": facts["family"], "prefix": facts["prefix"],
                    "created": moment, "changed": moment,
                }
            elif record["type"] == UPDATED and held is not None:
                for name in ("name", "description", "tags"):
                    if facts.get(name) is not None:
                        held[name] = facts[name]
                held["type"] = facts["type"]
                held["changed"] = moment
            elif record["type"] == RELEASED:
                held = None
        if held is None or (principal is not None and not principal.sees_ip(held["project_id"])):
            raise IPNotFoundError(f'ip "{canonical}" was not held at {at.isoformat()}')
        return held


ACQUIRED, UPDATED, RELEASED = (type_name(c) for c in (
    Network.IPAcquired, Network.IPUpdated, Network.IPReleased))
CHILD_ALLOCATED, CHILD_RELEASED = (type_name(c) for c in (
    Network.ChildNetworkAllocated, Network.ChildNetworkReleased))
CREATIONS = (type_name(Network.NetworkCreated), type_name(Network.NetworkRecreated))


class Scope:
    """Which history events a principal bound to projects may see: those of its projects' IPs
    and child networks, and the events of networks it sees that are about no other project.
    Events that do not name their project (an IP update, a child's release) are attributed by
    the acquisition or the child they belong to."""

    def __init__(self, principal: Principal, history: History) -> None:
        self.principal = principal
        self.history = history
        self._creations: dict[str, list[dict[str, Any]]] = {}
        self._allocations: dict[str, str] = {}

    @classmethod
    def of(cls, principal: Principal | None, history: History) -> Scope | None:
        if principal is None or principal.projects is None:
            return None
        return cls(principal, history)

    def network_project(self, network_id: str, position: int | None) -> str:
        """The network's project at a position of the log (its latest life when None)."""
        if network_id not in self._creations:
            page = self.history.network_history(
                str(network_uuid(network_id)), HistoryQuery(limit=1000, types=CREATIONS))
            self._creations[network_id] = page.events
        project = ""
        for event in self._creations[network_id]:
            if position is None or event["position"] <= position:
                project = event["facts"].get("project_id") or ""
        return project

    def allocation_project(self, address: str, allocation_uuid: str) -> str | None:
        """The project of an acquisition of the address (None when there was none): the
        address's acquisitions are read newest first, page by page, until it is found."""
        cursor: int | None = None
        while allocation_uuid not in self._allocations:
            page = self.history.ip_history(address, HistoryQuery(
                limit=1000, types=(ACQUIRED,), ascending=False, cursor=cursor))
            for event in page.events:
                self._allocations.setdefault(event["facts"]["allocation_uuid"],
                                             event["facts"]["project_id"])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return self._allocations.get(allocation_uuid)

    def project_of(self, event: dict[str, Any]) -> str | None:
        """The project an event is about; "" for a network-level event of a project-less network."""
        facts, kind = event["facts"], event["type"]
        if kind in (ACQUIRED, RELEASED, CHILD_ALLOCATED):
            return str(facts.get("project_id") or "")
        if kind == UPDATED:
            return self.allocation_project(facts["address"], facts["allocation_uuid"])
        if kind == CHILD_RELEASED:
            return self.network_project(facts["child_id"], event["position"])
        return self.network_project(event["network"], event["position"])

    def sees(self, event: dict[str, Any]) -> bool:
        project = self.project_of(event)
        if project is None:
            return False
        if event["type"].startswith("IP"):
            return self.principal.sees_ip(project)
        return self.principal.sees_network(project)


SCAN = 500  # events read per round while looking for the ones a scope may see


def _scoped(fetch: Callable[[HistoryQuery], HistoryPage], query: HistoryQuery,
            scope: Scope | None) -> HistoryPage:
    """A page of the events the scope may see. The log is read on past what it may not see
    until the page is full, and the cursor is the position of the page's last event, so a
    cursor never points at, and an empty page never hides, another project's events: a page
    short of `limit` is the last one (`next` is None)."""
    if scope is None:
        return fetch(query)
    visible: list[dict[str, Any]] = []
    cursor = query.cursor
    while True:
        page = fetch(replace(query, cursor=cursor, limit=max(query.limit, SCAN)))
        for event in page.events:
            if scope.sees(event):
                visible.append(event)
                if len(visible) > query.limit:
                    shown = visible[: query.limit]
                    return HistoryPage(shown, shown[-1]["position"])
        if page.next_cursor is None:
            return HistoryPage(visible, None)
        cursor = page.next_cursor
