"""The IPAM application: commands that change networks and IPs (`application.networks`,
`application.ips`, on the write path of `application.writes`), and queries on read models."""

from __future__ import annotations

from typing import Any

from application.access import Principal, visible_network
from application.ips import IPCommands
from application.networks import NetworkCommands
from application.ports import IPFilter, NetworkFilter
from domain.errors import NetworkNotFoundError


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

    def list_ips(self, flt: IPFilter | None = None,
                 principal: Principal | None = None) -> list[dict[str, Any]]:
        """The IPs matching the filter that the principal may see."""
        found = self._read().find_ips(flt or IPFilter())
        if principal is None or principal.projects is None:
            return found
        return [d for d in found if principal.sees_ip(d["project_id"])]
