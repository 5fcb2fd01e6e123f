"""IP commands: acquire, release and update addresses of a network.

Release and update are asked by address, and checked against the IP's document in the read
model (who may see it). The document names the allocation that was checked; the aggregate
acts only while that allocation still holds the address, so a write never lands on whoever
acquired the address since (another project, perhaps): that is a 404, as if it were gone.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from application.access import Principal, visible_ip
from application.context import RequestContext
from application.views import apply_ip_update, ip_document
from application.writes import WriteApplication, allocation, idempotent, retrying
from domain.addressing import Family, parse_address, parse_family
from domain.errors import InvalidRequestError, IPNotFoundError, NetworkNotFoundError
from domain.identifiers import check_id
from domain.network import Network
from domain.token import Role


class IPCommands(WriteApplication):
    """The IP use cases."""

    @allocation
    @idempotent
    def acquire_ip(
        self, *, context: RequestContext, network_id: str, project_id: str,
        specific_ip: str | None = None, address_family: str | None = None, name: str = "",
        description: str = "", ip_type: str = "", tags: list[str] | None = None,
        machine_id: str = "",
    ) -> dict[str, Any]:
        """Acquire the lowest free address (or a specific one) of a network (SPEC 4). A principal
        bound to projects acquires for its projects only (ForbiddenError, 403), in its own
        networks or in shared or project-less ones (others are not found, 404)."""
        principal = context.principal
        if principal is not None:
            principal.require(Role.editor, "acquire IPs")
            principal.require_project(project_id, "acquire IPs")
        if not network_id:
            raise InvalidRequestError("networkid should not be empty")
        if not project_id:
            raise InvalidRequestError("projectid should not be empty")
        check_id(project_id, "projectid")
        specific = parse_address(specific_ip) if specific_ip is not None else None
        family = parse_family(address_family) if address_family else None
        # the network is the only aggregate loaded, and it is saved
        with self._network_lock(network_id), self._trusting_cache():
            return self._acquire_ip(
                ctx=context.as_event_field(), principal=principal, network_id=network_id,
                project_id=project_id,
                specific=specific, family=family, name=name, description=description,
                ip_type=ip_type or "ephemeral", tags=list(tags or []), machine_id=machine_id,
            )

    @retrying
    def _acquire_ip(
        self, *, ctx: dict[str, Any], principal: Principal | None, network_id: str,
        project_id: str, specific: Any, family: Family | None, name: str, description: str,
        ip_type: str, tags: list[str], machine_id: str,
    ) -> dict[str, Any]:
        network = self._network(network_id)
        if principal is not None and not (
            principal.owns(network.project_id) or network.shared or not network.project_id
        ):
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        event = network.acquire_ip(
            project_id=project_id, allocation_uuid=str(uuid4()), address_family=family,
            specific=specific, name=name, description=description, ip_type=ip_type, tags=tags,
            machine_id=machine_id, context=ctx,
        )
        return self._commit(ip_document(event, network_id), network)

    @idempotent
    def release_ip(self, address: str, *, context: RequestContext) -> dict[str, Any]:
        """Release the allocation that holds the address. Raises IPNotFoundError (404) when
        none does, the principal may not see it, or another allocation took the address since
        it was looked up; InvalidRequestError (400) for an IP with machine scope;
        ForbiddenError (403) below the editor role."""
        if context.principal is not None:
            context.principal.require(Role.editor, "release IPs")
        return self._release_ip(self._held(address, context.principal), context=context)

    @retrying
    def _release_ip(self, held: dict[str, Any], *, context: RequestContext) -> dict[str, Any]:
        network = self._holding_network(held)
        network.release_ip(held["address"], context.as_event_field(),
                           allocation_uuid=held["allocation_uuid"], project_id=held["project_id"])
        return self._commit(held, network)

    @idempotent
    def update_ip(
        self, address: str, *, context: RequestContext, name: str | None = None,
        description: str | None = None, ip_type: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Update the name, description, type and tags of the allocation that holds the
        address (SPEC 4); the editor role and one of the IP's projects, and 404 as for
        releasing."""
        if context.principal is not None:
            context.principal.require(Role.editor, "update IPs")
        held = self._held(address, context.principal)
        return self._update_ip(held, context=context, name=name, description=description,
                               ip_type=ip_type, tags=tags)

    @retrying
    def _update_ip(
        self, held: dict[str, Any], *, context: RequestContext, name: str | None,
        description: str | None, ip_type: str | None, tags: list[str] | None,
    ) -> dict[str, Any]:
        network = self._holding_network(held)
        event = network.update_ip(
            held["address"], allocation_uuid=held["allocation_uuid"],
            project_id=held["project_id"], name=name, description=description,
            ip_type=ip_type, tags=tags, context=context.as_event_field(),
        )
        return self._commit(apply_ip_update(held, event), network)

    def get_ip(self, address: str, principal: Principal | None = None) -> dict[str, Any]:
        """The acquired IP with this address; IPNotFoundError (404) when there is none or the
        principal may not see it."""
        canonical = str(parse_address(address))
        document = self._read().get_ip(canonical)
        if document is None:
            raise IPNotFoundError(f'ip with address "{canonical}" not found')
        visible_ip(principal, document, canonical)
        return document

    def _held(self, address: str, principal: Principal | None) -> dict[str, Any]:
        """The IP's document, read once before any attempt: a retry after a lost race acts on
        the same allocation or on none, never on the address's next holder."""
        return self.get_ip(address, principal)

    def _holding_network(self, held: dict[str, Any]) -> Network:
        try:
            return self._network(held["network_id"])
        except NetworkNotFoundError:
            raise IPNotFoundError(f'ip with address "{held["address"]}" not found') from None
