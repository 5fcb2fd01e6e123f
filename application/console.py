"""What the web console asks beyond the API's reads: a network's prefixes as the allocator keeps
them (free blocks, children, taken addresses), now or at a past moment, scoped as the API scopes.

The console draws its free-space maps from these; everything else it shows comes from the same
use cases the HTTP API calls (`IpamApplication`, `Audit`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from application.access import Principal, visible_network
from application.history import Audit
from domain.allocation import PrefixPool
from domain.errors import NetworkNotFoundError
from domain.network import Network, network_uuid


@dataclass(frozen=True)
class NetworkPicture:
    """A network as the console shows it: its document, its prefixes' bookkeeping, and its
    child networks by child prefix (CIDR -> (id, name)) among those the principal may see."""

    document: dict[str, Any]
    pools: tuple[PrefixPool, ...]
    children: dict[str, tuple[str, str]]
    child_documents: tuple[dict[str, Any], ...]
    network: Network

    def held(self, principal: Principal | None, after: str | None, limit: int
             ) -> tuple[list[dict[str, Any]], str | None, int]:
        """The addresses the network held (at the picture's moment) that the principal may see,
        in address order: a page after `after`, the next cursor, and how many in all. From the
        aggregate (which keeps per address its allocation, project and type, not its name):
        the past pages' source; the present pages use the read model's keyset pages."""
        rows = sorted(
            ((ipaddress.ip_address(address), facts) for address, facts in self.network.ips.items()
             if principal is None or principal.sees_ip(facts.project_id)),
            key=lambda item: (item[0].version, int(item[0])))
        start = 0
        if after:
            mark = ipaddress.ip_address(after)
            start = next((i for i, (a, _) in enumerate(rows)
                          if (a.version, int(a)) > (mark.version, int(mark))), len(rows))
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        docs = [{"address": str(a), "project_id": f.project_id, "type": f.type,
                 "allocation_uuid": f.allocation_uuid, "name": "", "network_id":
                 self.network.network_id} for a, f in page]
        return docs, (docs[-1]["address"] if more and docs else None), len(rows)


class ConsoleQueries:
    """A network's picture, now (`at` None) or as it was at `at`."""

    def __init__(self, audit: Audit) -> None:
        self.audit = audit
        self.app = audit.app

    def picture(self, network_id: str, principal: Principal | None,
                at: datetime | None = None) -> NetworkPicture:
        if at is None:
            document = self.app.get_network(network_id, principal)  # 404 when not visible
            try:
                network: Network = self.app.repository.get(network_uuid(network_id))
            except AggregateNotFoundError:
                raise NetworkNotFoundError(f'network with id "{network_id}" not found') from None
            # the children's names and projects from the read model's columns, their prefixes
            # from the parent: no child's figures are computed (a super may have ten thousand)
            carved = dict(network.children.items())
            children = [dict(row, prefixes=list(carved[row["network_id"]]))
                        for row in self.app.network_summaries(principal, network_id)
                        if row["network_id"] in carved] if carved else []
        else:
            document = self.audit.get_network_at(network_id, at=at, principal=principal)
            network = self.app.repository.get(network_uuid(network_id),
                                              version=int(document["version"]))
            children = [n for n in self.audit.list_networks_at(at, principal)
                        if n.get("parent_id") == network_id]
        if network.deleted:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        visible_network(principal, document, network_id)
        children.sort(key=lambda child: [_address_key(p) for p in child.get("prefixes", [])])
        by_prefix = {prefix: (child["network_id"], child.get("name") or "")
                     for child in children for prefix in child.get("prefixes", [])}
        return NetworkPicture(document=document, pools=tuple(network.pools.values()),
                              children=by_prefix, child_documents=tuple(children),
                              network=network)


def _address_key(prefix: str) -> tuple[int, int]:
    network = ipaddress.ip_network(prefix)
    return network.version, int(network.network_address)
