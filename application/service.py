"""The IPAM application: commands that change networks and IPs (`application.networks`,
`application.ips`, on the write path of `application.writes`), and queries on read models."""

from __future__ import annotations

from typing import Any

from application.access import Principal, visible_network
from application.ips import IPCommands
from application.networks import NetworkCommands
from application.ports import MAX_IP_PAGE, IPFilter, IPPage, NetworkFilter
from domain.addressing import parse_address
from domain.errors import InvalidRequestError, NetworkNotFoundError


class IpamApplication(NetworkCommands, IPCommands):
    """Networks, child networks and IPs, event-sourced."""

    name = "ipam"

    # -- queries -------------------------------------------------------------------------------

    def get_network(self, network_id: str, principal: Principal | None = None) -> dict[str, Any]:
        """The network with this id; NetworkNotFoundError (404) when there is none or the
        principal may not see it."""
        document = self._read().get_network(network_id)
        if document is None:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        visible_network(principal, document, network_id)
        return document

    def list_networks(self, flt: NetworkFilter | None = None,
                      principal: Principal | None = None) -> list[dict[str, Any]]:
        """The networks matching the filter that the principal may see."""
        found = self._read().find_networks(flt or NetworkFilter())
        if principal is None or principal.projects is None:
            return found
        return [d for d in found if principal.sees_network(d["project_id"])]

    def network_summaries(self, principal: Principal | None = None,
                          parent_id: str | None = None) -> list[dict[str, Any]]:
        """The networks (children of `parent_id`) the principal may see, as
        `ReadModel.network_summaries` gives them."""
        found = self._read().network_summaries(parent_id)
        if principal is None or principal.projects is None:
            return found
        return [d for d in found if principal.sees_network(d["project_id"])]

    def list_ips(self, flt: IPFilter | None = None,
                 principal: Principal | None = None) -> list[dict[str, Any]]:
        """The IPs matching the filter that the principal may see."""
        found = self._read().find_ips(flt or IPFilter())
        if principal is None or principal.projects is None:
            return found
        return [d for d in found if principal.sees_ip(d["project_id"])]

    def ip_page(self, network_id: str, *, principal: Principal | None, after: str | None = None,
                limit: int = 100) -> IPPage:
        """A page of the network's IPs in numeric address order (IPv4 before IPv6), the first
        `limit` after the address `after`, with the IPs the principal may see as `list_ips`
        scopes them (a principal bound to projects: its projects' IPs) and their total.

        Raises InvalidRequestError (400) when `limit` is outside 1..1000 or `after` is not an
        address; NetworkNotFoundError (404) when the network does not exist, or the principal
        may not see it and holds none of its IPs (it knows of a network it took IPs from: a
        project's IPs in another project's shared network)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_IP_PAGE:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_IP_PAGE}, not {limit!r}")
        start = str(parse_address(after)) if after is not None else None
        read = self._read()
        document = read.get_network(network_id)
        if document is None:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        projects = principal.projects if principal is not None else None
        page = read.ip_page(network_id, projects=projects, after=start, limit=limit)
        if page.total == 0:
            visible_network(principal, document, network_id)
        return page
