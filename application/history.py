"""Auditing use cases: history pages and the state of networks and IPs at a past moment.

Past states are computed from the log: the history projection says which version a network had
at a time, and the aggregate is rebuilt from its events up to that version (snapshots help), so
the answer is exact and consumption is included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.ports import History, HistoryPage, HistoryQuery
from application.service import IpamApplication
from application.views import network_view
from domain.addressing import parse_address, parse_prefix
from domain.errors import InvalidRequestError, IPNotFoundError, NetworkNotFoundError
from domain.network import Network, network_uuid


class Audit:
    """Answers an auditor's questions from the event log and the history projection."""

    def __init__(self, app: IpamApplication, history: History) -> None:
        self.app = app
        self.history = history

    def _history(self) -> History:
        self.history.catch_up()
        return self.history

    def network_history(self, network_id: str, query: HistoryQuery) -> HistoryPage:
        """The network's events (all its lives); NetworkNotFoundError when it never existed."""
        history = self._history()
        aggregate_id = str(network_uuid(network_id))
        if not history.network_exists(aggregate_id):
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        return history.network_history(aggregate_id, query)

    def ip_history(self, address: str, query: HistoryQuery) -> HistoryPage:
        """Every acquisition, update and release of an address, across networks and time."""
        return self._history().ip_history(str(parse_address(address)), query)

    def prefix_history(self, cidr: str, query: HistoryQuery) -> HistoryPage:
        """Everything that touched addresses inside the CIDR (a strict, canonical prefix)."""
        return self._history().prefix_history(str(parse_prefix(cidr)), query)

    def get_network_at(
        self, network_id: str, *, at: datetime | None = None, version: int | None = None
    ) -> dict[str, Any]:
        """The network as it was at a time or a version, consumption included."""
        if (at is None) == (version is None):
            raise InvalidRequestError("give exactly one of at and version")
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
        return network_view(network)

    def list_networks_at(self, at: datetime) -> list[dict[str, Any]]:
        """Every network that existed at `at`, as it was then."""
        views = []
        for _, aggregate_id, version in self._history().networks_at(at):
            network: Network = self.app.repository.get(UUID(aggregate_id), version=version)
            views.append(network_view(network))
        return views

    def get_ip_at(self, address: str, at: datetime) -> dict[str, Any]:
        """Who held the address at `at`, with the IP's details then."""
        canonical = str(parse_address(address))
        held: dict[str, Any] | None = None
        for record in self._history().ip_events_until(canonical, at):
            facts, moment = record["facts"], datetime.fromisoformat(record["time"])
            if record["type"] == "IPAcquired":
                held = {
                    "address": canonical, "allocation_uuid": facts["allocation_uuid"],
                    "network_id": record["network"], "project_id": facts["project_id"],
                    "name": facts["name"], "description": facts["description"],
                    "type": facts["type"], "tags": list(facts["tags"]),
                    "family": facts["family"], "prefix": facts["prefix"],
                    "created": moment, "changed": moment,
                }
            elif record["type"] == "IPUpdated" and held is not None:
                for name in ("name", "description", "tags"):
                    if facts.get(name) is not None:
                        held[name] = facts[name]
                held["type"] = facts["type"]
                held["changed"] = moment
            elif record["type"] == "IPReleased":
                held = None
        if held is None:
            raise IPNotFoundError(f'ip "{canonical}" was not held at {at.isoformat()}')
        return held
