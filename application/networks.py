"""Network commands: create, update, delete, and carve child networks from a partition's super.

Each one loads the aggregates it touches, checks who may act on what it loaded (never on a read
model that may have moved on since), lets the domain decide, and saves in one transaction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import uuid4

from application.access import Principal, visible_network
from application.context import RequestContext
from application.views import network_view
from application.writes import WriteApplication, allocation, idempotent, retrying
from domain.addressing import Family, parse_family, parse_family_lengths
from domain.errors import (
    AlreadyExistsError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    OverlapError,
)
from domain.identifiers import check_id, check_optional_id
from domain.namespace import Namespace
from domain.network import Network, NetworkAttributes
from domain.revision import UpdateRequest
from domain.spec import (
    parse_prefixes,
    validate_new_network,
)
from domain.token import Role


def check_infrastructure(principal: Principal | None, attributes: NetworkAttributes) -> None:
    """A principal bound to projects creates networks of its projects only: private supers,
    underlays, networks without a project and chosen VRF ids shape the partition for every
    project, so they are for principals bound to none (ForbiddenError, 403)."""
    if principal is None or not principal.bound:
        return
    kinds = [("a private super network", attributes.private_super),
             ("an underlay network", attributes.underlay),
             ("a network without a project", not attributes.project_id),
             ("a network with a chosen vrf", bool(attributes.vrf))]
    for kind, asked in kinds:
        if asked:
            raise ForbiddenError(
                f"{principal.subject} is bound to projects and may not create {kind}: "
                "that takes an admin bound to no project")


class NetworkCommands(WriteApplication):
    """The network use cases."""

    @idempotent
    def create_network(
        self, *, context: RequestContext, network_id: str = "", prefixes: list[str],
        attributes: NetworkAttributes | None = None,
    ) -> dict[str, Any]:
        """Create a network (SPEC 2). `vrf` 0 means none; a parent id is ignored (metal-api).
        Raises InvalidRequestError (400), AlreadyExistsError (409), OverlapError (422),
        ForbiddenError (403) below the admin role."""
        attributes = replace(attributes or NetworkAttributes(), vrf=(attributes and attributes.vrf)
                             or None, parent_id=None)
        if context.principal is not None:
            context.principal.require(Role.admin, "create networks")
            check_infrastructure(context.principal, attributes)
            context.principal.require_project(attributes.project_id, "create networks")
        if network_id:
            check_id(network_id, "network id")
        check_optional_id(attributes.partition_id, "partitionid")
        check_optional_id(attributes.project_id, "projectid")
        return self._create_network(
            context=context, network_id=network_id or str(uuid4()), prefixes=prefixes,
            attributes=attributes,
        )

    @retrying
    def _create_network(
        self, *, context: RequestContext, network_id: str, prefixes: list[str],
        attributes: NetworkAttributes,
    ) -> dict[str, Any]:
        ctx = context.as_event_field()
        namespace = self._namespace(ctx)
        spec = validate_new_network(
            network_id=network_id, prefixes=prefixes, attributes=attributes,
            private_super_of_partition=namespace.private_super_of(attributes.partition_id)
            if attributes.private_super else None,
        )
        existing = self._network_or_none(network_id)
        if existing is not None and not existing.deleted:
            raise AlreadyExistsError(f'entity already exists: network with id "{network_id}"')
        attributes = spec.attributes
        self._claim(namespace, network_id, list(spec.prefixes), ctx, context.principal)
        if attributes.private_super:
            namespace.register_private_super(attributes.partition_id, network_id, ctx)
        if attributes.underlay and attributes.partition_id:
            namespace.register_underlay(attributes.partition_id, network_id, ctx)
        touched: list[Any] = [namespace]
        if attributes.vrf is not None:
            pool = self._vrf_pool(ctx)
            pool.reserve(attributes.vrf, network_id, attributes.vrf_shared, ctx)
            touched.append(pool)
        if existing is not None:
            network = existing
            network.recreate(attributes=attributes, prefixes=list(spec.prefixes), context=ctx)
        else:
            network = Network.create(network_id=network_id, attributes=attributes,
                                     prefixes=list(spec.prefixes), context=ctx)
        return self._commit(network_view(network), *touched, network)

    def _claim(self, namespace: Namespace, network_id: str, prefixes: list[str],
               ctx: dict[str, Any], principal: Principal | None) -> None:
        """Claim the prefixes; an overlap names the network holding the other prefix when the
        caller may see it (metal-api's `A overlaps B` first, the detail after it)."""
        try:
            namespace.claim(network_id, prefixes, ctx)
        except OverlapError as error:
            raise OverlapError(f"{error.message} {self._holder(error, principal)}",
                               prefix=error.prefix, other=error.other, holder=error.holder) from None

    def _holder(self, error: OverlapError, principal: Principal | None) -> str:
        if error.holder is None:
            return "(both asked for in this request)"
        holder = self._network_or_none(error.holder)
        if holder is not None and (principal is None or principal.sees_network(holder.project_id)):
            return f'(held by network with id "{error.holder}")'
        return "(held by a network you may not see)"

    @idempotent
    @retrying
    def update_network(
        self, network_id: str, *, context: RequestContext, force: bool = False,
        name: str | None = None, description: str | None = None,
        labels: dict[str, str] | None = None, shared: bool | None = None,
        destination_prefixes: list[str] | None = None,
        additional_announcable_cidrs: list[str] | None = None,
        default_child_prefix_length: dict[str, int] | None = None,
        prefixes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Update a network (SPEC 5). Null or empty `prefixes` and `destination_prefixes` leave
        them as they are (SPEC 9, metal-api's `len(...) > 0`). Raises InvalidRequestError (400),
        NetworkNotFoundError (404), OverlapError and InUseError (422), ForbiddenError (403)
        below the admin role."""
        principal = context.principal
        if principal is not None:
            principal.require(Role.admin, "update networks")
        ctx = context.as_event_field()
        network = self._network(network_id)
        if principal is not None:
            visible_network(principal, {"project_id": network.project_id}, network_id)
            principal.require_project(network.project_id, "update networks")
        added, removed = network.revise(UpdateRequest(
            name=name, description=description, labels=labels, shared=shared,
            destination_prefixes=destination_prefixes,
            additional_announcable_cidrs=additional_announcable_cidrs,
            default_child_prefix_length=default_child_prefix_length, prefixes=prefixes,
            force=force,
        ), ctx)
        touched: list[Any] = [network]
        if (added or removed) and not network.is_child:
            namespace = self._namespace(ctx)
            namespace.release(network.network_id, removed, ctx)
            self._claim(namespace, network.network_id, added, ctx, principal)
            touched.append(namespace)
        return self._commit(network_view(network), *touched)

    @idempotent
    @retrying
    def delete_network(
        self, network_id: str, *, context: RequestContext, only_child: bool = False
    ) -> dict[str, Any]:
        """Delete a network; a child's prefixes go back to its super and its VRF to the pool.
        Raises NetworkNotFoundError (404), InUseError (422) and, with `only_child`,
        InvalidRequestError for a network that is not a child. Freeing a child takes the editor
        role and one of its projects, deleting takes the admin role (ForbiddenError, 403)."""
        principal = context.principal
        if principal is not None:
            principal.require(Role.editor if only_child else Role.admin,
                              "free child networks" if only_child else "delete networks")
        ctx = context.as_event_field()
        network = self._network(network_id)
        if principal is not None:
            visible_network(principal, {"project_id": network.project_id}, network_id)
            principal.require_project(network.project_id,
                                      "free networks" if only_child else "delete networks")
        if only_child and not network.is_child:
            raise InvalidRequestError(f"network {network_id} is not a child network")
        view = network_view(network)
        network.delete(ctx)
        touched: list[Any] = [network]
        if network.is_child:
            assert network.parent_id is not None
            parent = self._network_or_none(network.parent_id)
            if parent is not None and not parent.deleted:
                parent.release_child(network_id, network.vrf, ctx)
                touched.append(parent)
        else:
            namespace = self._namespace(ctx)
            namespace.release(network_id, network.prefixes, ctx)
            namespace.unregister_private_super(network.partition_id, network_id, ctx)
            namespace.unregister_underlay(network.partition_id, network_id, ctx)
            touched.append(namespace)
        if network.vrf is not None:
            pool = self._vrf_pool(ctx)
            pool.release(network.vrf, network_id, network.vrf_shared, ctx)
            touched.append(pool)
        return self._commit(view, *touched)

    @allocation
    @idempotent
    def allocate_child_network(
        self, *, context: RequestContext, partition_id: str, project_id: str, name: str = "",
        description: str = "", labels: dict[str, str] | None = None, shared: bool = False,
        nat: bool = False, destination_prefixes: list[str] | None = None,
        length: dict[str, int] | None = None, address_family: str | None = None,
    ) -> dict[str, Any]:
        """Carve a child network out of the partition's private super (SPEC 3), all or
        nothing. Raises InvalidRequestError (400), NotFoundError (404), ExhaustedError (422),
        ForbiddenError (403) below the editor role or for a project not the principal's."""
        if context.principal is not None:
            context.principal.require(Role.editor, "allocate child networks")
            context.principal.require_project(project_id, "allocate child networks")
        if not partition_id:
            raise InvalidRequestError("partitionid should not be empty")
        if not project_id:
            raise InvalidRequestError("projectid should not be empty")
        check_id(project_id, "projectid")
        family = parse_family(address_family) if address_family else None
        requested = parse_family_lengths(length or {}, "length")
        destinations = [str(p) for p in parse_prefixes(destination_prefixes or [])]
        return self._allocate_child(
            context=context, principal=context.principal, child_id=str(uuid4()),
            partition_id=partition_id,
            project_id=project_id, name=name, description=description, labels=labels or {},
            shared=shared, nat=nat, destinations=destinations, requested=requested,
            family=family,
        )

    @retrying
    def _allocate_child(
        self, *, context: RequestContext, principal: Principal | None, child_id: str,
        partition_id: str, project_id: str, name: str, description: str,
        labels: dict[str, str], shared: bool, nat: bool, destinations: list[str],
        requested: dict[Family, int], family: Family | None,
    ) -> dict[str, Any]:
        ctx = context.as_event_field()
        super_id = self._namespace(ctx).private_super_of(partition_id)
        missing = NotFoundError(f'no private super network found for partition "{partition_id}"')
        if super_id is None:
            raise missing
        parent = self._network(super_id)
        if principal is not None and not principal.sees_network(parent.project_id):
            raise missing  # another project's super: carving from it is not this caller's
        pool = self._vrf_pool(ctx)
        vrf = pool.reserve_lowest(child_id, ctx)
        chosen = parent.allocate_child(
            child_id=child_id, requested=requested, address_family=family, vrf=vrf,
            project_id=project_id, name=name, context=ctx,
        )
        child = Network.create(
            network_id=child_id, prefixes=chosen, context=ctx, attributes=NetworkAttributes(
                name=name, description=description, partition_id=parent.partition_id,
                project_id=project_id, parent_id=super_id, destination_prefixes=destinations,
                nat=nat, shared=shared, vrf=vrf, labels=labels,
            ),
        )
        return self._commit(network_view(child), parent, pool, child)

