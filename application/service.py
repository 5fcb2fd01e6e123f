"""The IPAM application: commands that change networks and IPs, and queries on read models.

Each command loads the aggregates it touches, lets the domain decide, and saves every touched
aggregate in one transaction. A concurrent change to one of them makes the save fail as a
whole; the command is then run again from a fresh load, a bounded number of times.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, OperationalError

from application.access import Principal, visible_ip, visible_network
from application.context import RequestContext
from application.ports import IPFilter, NetworkFilter, ReadModel
from application.views import apply_ip_update, ip_document, network_view
from domain.addressing import Family, parse_address, parse_family, parse_family_lengths
from domain.errors import (
    AlreadyExistsError,
    ConcurrentUpdateError,
    IdempotencyMismatchError,
    InvalidRequestError,
    IPNotFoundError,
    NetworkNotFoundError,
    NotFoundError,
)
from domain.idempotency import IdempotentRequest, request_uuid
from domain.namespace import Namespace, VrfPool, namespace_uuid, vrf_pool_uuid
from domain.network import Network, network_uuid
from domain.spec import (
    check_child_lengths,
    check_destination_families,
    parse_prefixes,
    validate_new_network,
)
from domain.token import Role

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 40


class Replayed(Exception):
    """The request was made before with the same idempotency key: here is its first result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("replayed")
        self.result = result


@dataclass(frozen=True)
class PendingKey:
    """The idempotency key of the write this thread is making."""

    record_id: UUID
    key: str
    subject: str
    fingerprint: str
    context: dict[str, Any]


def retrying(command: Callable[P, R]) -> Callable[P, R]:
    """Run the command again from a fresh load when a concurrent save won the race. Each attempt
    first looks for the request's idempotency record: a duplicate that lost the race finds the
    first result there instead of changing anything again."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        delay = 0.0005
        app: IpamApplication = args[0]  # type: ignore[assignment]
        for _ in range(MAX_ATTEMPTS):
            try:
                app._replay_if_recorded()
                return command(*args, **kwargs)
            except IntegrityError:
                # another writer saved a newer version of a touched aggregate first
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)
            except OperationalError as error:
                # SQLite's file lock stayed busy (several processes on one file)
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)
        raise ConcurrentUpdateError(
            "the change collided with concurrent changes too often, please retry"
        )

    return wrapper


def idempotent(command: Callable[P, dict[str, Any]]) -> Callable[P, dict[str, Any]]:
    """A write that honours the context's idempotency key: the first result is recorded with the
    change, in its transaction; the same key again returns that result without a second change;
    the same key for a different request is IdempotencyMismatchError (422)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        app: IpamApplication = args[0]  # type: ignore[assignment]
        context = kwargs["context"]
        assert isinstance(context, RequestContext)
        if not context.idempotency_key:
            return command(*args, **kwargs)
        app._pending.key = PendingKey(
            request_uuid(context.actor, context.idempotency_key), context.idempotency_key,
            context.actor, context.fingerprint, context.as_event_field())
        try:
            return command(*args, **kwargs)
        except Replayed as replay:
            return replay.result
        finally:
            app._pending.key = None

    return wrapper


class _Pending(threading.local):
    key: PendingKey | None = None


class IpamApplication(Application[UUID]):
    """Networks, child networks and IPs, event-sourced."""

    name = "ipam"
    read_model: ReadModel | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._network_locks: dict[str, threading.Lock] = {}
        self._network_locks_guard = threading.Lock()
        self._pending = _Pending()

    def _replay_if_recorded(self) -> None:
        """Replayed with the first result when this thread's idempotency key was used before
        for the same request; IdempotencyMismatchError (422) when for another one."""
        pending = self._pending.key
        if pending is None:
            return
        try:
            record: IdempotentRequest = self.repository.get(pending.record_id)
        except AggregateNotFoundError:
            return
        if record.fingerprint != pending.fingerprint:
            raise IdempotencyMismatchError(
                f"the Idempotency-Key {pending.key!r} was used before for a different request")
        raise Replayed(record.result)

    def _commit(self, result: dict[str, Any], *aggregates: Any) -> dict[str, Any]:
        """Save the touched aggregates in one transaction, with the idempotency record of the
        request when it has a key; return the result."""
        pending = self._pending.key
        if pending is not None:
            aggregates = (*aggregates, IdempotentRequest.record(
                key=pending.key, subject=pending.subject, fingerprint=pending.fingerprint,
                result=result, context=pending.context))
        self.save(*aggregates)
        return result

    def _network_lock(self, network_id: str) -> threading.Lock:
        """One lock per network for this process's acquisitions: threads of one process
        queue instead of colliding and retrying; other processes still race optimistically."""
        with self._network_locks_guard:
            return self._network_locks.setdefault(network_id, threading.Lock())

    # -- loading -------------------------------------------------------------------------------

    def _network(self, network_id: str) -> Network:
        try:
            network: Network = self.repository.get(network_uuid(network_id))
        except AggregateNotFoundError:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found') from None
        if network.deleted:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        return network

    def _network_or_none(self, network_id: str) -> Network | None:
        try:
            return self.repository.get(network_uuid(network_id))
        except AggregateNotFoundError:
            return None

    def _namespace(self, ctx: dict[str, Any]) -> Namespace:
        try:
            return self.repository.get(namespace_uuid())
        except AggregateNotFoundError:
            return Namespace.start(ctx)

    def _vrf_pool(self, ctx: dict[str, Any]) -> VrfPool:
        try:
            return self.repository.get(vrf_pool_uuid())
        except AggregateNotFoundError:
            return VrfPool.start(ctx)

    # -- networks ------------------------------------------------------------------------------

    @idempotent
    def create_network(
        self, *, context: RequestContext, network_id: str = "", prefixes: list[str],
        parent_id: str = "", **attributes: Any,
    ) -> dict[str, Any]:
        """Create a network (SPEC 2). Raises InvalidRequestError (400), AlreadyExistsError and
        OverlapError (409), ForbiddenError (403) below the admin role."""
        if context.principal is not None:
            context.principal.require(Role.admin, "create networks")
            context.principal.require_project(attributes.get("project_id") or "", "create networks")
        if parent_id:
            raise InvalidRequestError(
                "parentnetworkid can not be set on create, allocate child networks with "
                "/v1/network/allocate"
            )
        return self._create_network(
            context=context, network_id=network_id or str(uuid4()), prefixes=prefixes,
            **attributes,
        )

    @retrying
    def _create_network(
        self, *, context: RequestContext, network_id: str, prefixes: list[str], **attributes: Any
    ) -> dict[str, Any]:
        ctx = context.as_event_field()
        namespace = self._namespace(ctx)
        partition_id = attributes.get("partition_id", "")
        spec = validate_new_network(
            network_id=network_id, prefixes=prefixes,
            private_super_of_partition=namespace.private_super_of(partition_id)
            if attributes.get("private_super") else None,
            **attributes,
        )
        existing = self._network_or_none(network_id)
        if existing is not None and not existing.deleted:
            raise AlreadyExistsError("entity already exists")
        namespace.claim(network_id, list(spec.prefixes), ctx)
        if spec.private_super:
            namespace.register_private_super(spec.partition_id, network_id, ctx)
        touched: list[Any] = [namespace]
        if spec.vrf is not None:
            pool = self._vrf_pool(ctx)
            pool.reserve(spec.vrf, network_id, spec.vrf_shared, ctx)
            touched.append(pool)
        attributes = dict(
            name=spec.name, description=spec.description, partition_id=spec.partition_id,
            project_id=spec.project_id, parent_id=None,
            destination_prefixes=list(spec.destination_prefixes),
            additional_announcable_cidrs=list(spec.additional_announcable_cidrs),
            default_child_prefix_length=spec.default_child_prefix_length,
            private_super=spec.private_super, underlay=spec.underlay, nat=spec.nat,
            shared=spec.shared, vrf=spec.vrf, vrf_shared=spec.vrf_shared, labels=spec.labels,
        )
        if existing is not None:
            network = existing
            network.recreate(prefixes=list(spec.prefixes), context=ctx, **attributes)
        else:
            network = Network.create(
                network_id=network_id, prefixes=list(spec.prefixes), context=ctx, **attributes
            )
        return self._commit(network_view(network), *touched, network)

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
        """Update a network (SPEC 5). Raises InvalidRequestError (400), NetworkNotFoundError
        (404), OverlapError and InUseError (409), ForbiddenError (403) below the admin role."""
        principal = context.principal
        if principal is not None:
            principal.require(Role.admin, "update networks")
        ctx = context.as_event_field()
        network = self._network(network_id)
        if principal is not None:
            visible_network(principal, {"project_id": network.project_id}, network_id)
            principal.require_project(network.project_id, "update networks")
        if shared is False and network.shared:
            raise InvalidRequestError(
                "once a network is marked as shared it is not possible to unshare it"
            )
        new_prefixes = network.prefixes
        if prefixes is not None:
            parsed = [str(p) for p in parse_prefixes(prefixes)]
            if network.is_child and parsed != network.prefixes:
                raise InvalidRequestError("the prefixes of a child network can not be changed")
            if not parsed:
                raise InvalidRequestError("no prefixes given")
            new_prefixes = list(dict.fromkeys(parsed))
        parsed_new = parse_prefixes(new_prefixes)
        destinations = parse_prefixes(
            destination_prefixes if destination_prefixes is not None
            else network.destination_prefixes
        )
        check_destination_families(destinations, parsed_new)
        lengths = None
        if default_child_prefix_length == {} and not network.private_super:
            default_child_prefix_length = None  # an empty map on a plain network sets nothing
        if default_child_prefix_length is not None:
            if not network.private_super:
                raise InvalidRequestError(
                    "defaultchildprefixlength can only be set for privatesuper networks"
                )
            lengths = parse_family_lengths(default_child_prefix_length, "defaultchildprefixlength")
        if network.private_super:
            check_child_lengths(lengths if lengths is not None else network.child_lengths(), parsed_new)
        announcable = None
        if additional_announcable_cidrs is not None:
            announcable = [str(p) for p in parse_prefixes(additional_announcable_cidrs)]
            if announcable and not network.private_super:
                raise InvalidRequestError(
                    "additionalannouncablecidrs can only be set in a private super network"
                )
            removed = set(network.additional_announcable_cidrs) - set(announcable)
            if removed and not force:
                raise InvalidRequestError(
                    "you are trying to remove the additionalannouncablecidrs "
                    f"{','.join(sorted(removed))}, this requires force=true"
                )
        touched: list[Any] = [network]
        removed_prefixes = [p for p in network.prefixes if p not in new_prefixes]
        added_prefixes = [p for p in new_prefixes if p not in network.prefixes]
        for prefix in removed_prefixes:
            network.remove_prefix(prefix, ctx)
        if (added_prefixes or removed_prefixes) and not network.is_child:
            namespace = self._namespace(ctx)
            namespace.release(network.network_id, removed_prefixes, ctx)
            namespace.claim(network.network_id, added_prefixes, ctx)
            touched.append(namespace)
        for prefix in added_prefixes:
            network.add_prefix(prefix, ctx)
        network.update(
            ctx, name=name, description=description, labels=labels, shared=shared,
            destination_prefixes=[str(p) for p in destinations]
            if destination_prefixes is not None else None,
            additional_announcable_cidrs=announcable,
            default_child_prefix_length={f.value: n for f, n in lengths.items()}
            if lengths is not None else None,
        )
        return self._commit(network_view(network), *touched)

    @idempotent
    @retrying
    def delete_network(
        self, network_id: str, *, context: RequestContext, only_child: bool = False
    ) -> dict[str, Any]:
        """Delete a network; a child's prefixes go back to its super and its VRF to the pool.
        Raises NetworkNotFoundError (404), InUseError (409) and, with `only_child`,
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
            touched.append(namespace)
        if network.vrf is not None:
            pool = self._vrf_pool(ctx)
            pool.release(network.vrf, network_id, network.vrf_shared, ctx)
            touched.append(pool)
        return self._commit(view, *touched)

    @idempotent
    def allocate_child_network(
        self, *, context: RequestContext, partition_id: str, project_id: str, name: str = "",
        description: str = "", labels: dict[str, str] | None = None, shared: bool = False,
        nat: bool = False, destination_prefixes: list[str] | None = None,
        length: dict[str, int] | None = None, address_family: str | None = None,
    ) -> dict[str, Any]:
        """Carve a child network out of the partition's private super (SPEC 3), all or
        nothing. Raises InvalidRequestError (400), NotFoundError (404), ExhaustedError (409),
        ForbiddenError (403) below the editor role or for a project not the principal's."""
        if context.principal is not None:
            context.principal.require(Role.editor, "allocate child networks")
            context.principal.require_project(project_id, "allocate child networks")
        if not partition_id:
            raise InvalidRequestError("partitionid should not be empty")
        if not project_id:
            raise InvalidRequestError("projectid should not be empty")
        family = parse_family(address_family) if address_family else None
        requested = parse_family_lengths(length or {}, "length")
        destinations = [str(p) for p in parse_prefixes(destination_prefixes or [])]
        return self._allocate_child(
            context=context, child_id=str(uuid4()), partition_id=partition_id,
            project_id=project_id, name=name, description=description, labels=labels or {},
            shared=shared, nat=nat, destinations=destinations, requested=requested,
            family=family,
        )

    @retrying
    def _allocate_child(
        self, *, context: RequestContext, child_id: str, partition_id: str, project_id: str,
        name: str, description: str, labels: dict[str, str], shared: bool, nat: bool,
        destinations: list[str], requested: dict[Family, int], family: Family | None,
    ) -> dict[str, Any]:
        ctx = context.as_event_field()
        super_id = self._namespace(ctx).private_super_of(partition_id)
        if super_id is None:
            raise NotFoundError(f'no private super network found for partition "{partition_id}"')
        parent = self._network(super_id)
        present = parent.families()
        for fam in requested:
            if fam not in present:
                raise InvalidRequestError(
                    f"no prefix of addressfamily {fam.value} in network {super_id}"
                )
        lengths = {f: n for f, n in parent.child_lengths().items() if f in present}
        lengths.update(requested)
        if family is not None:
            # SPEC 3.3; `lengths` only holds families the super has prefixes of
            if family not in lengths:
                raise InvalidRequestError(
                    f"addressfamily {family.value} specified, but no childprefixlength for "
                    "this addressfamily"
                )
        chosen = parent.choose_child_prefixes(lengths, family)
        pool = self._vrf_pool(ctx)
        vrf = pool.reserve_lowest(child_id, ctx)
        parent.allocate_child(
            child_id=child_id, prefixes=chosen, vrf=vrf, project_id=project_id, name=name,
            requested_lengths={f.value: n for f, n in requested.items()},
            address_family=family.value if family else None, context=ctx,
        )
        child = Network.create(
            network_id=child_id, prefixes=chosen, context=ctx, name=name,
            description=description, partition_id=parent.partition_id, project_id=project_id,
            parent_id=super_id, destination_prefixes=destinations,
            additional_announcable_cidrs=[], default_child_prefix_length={},
            private_super=False, underlay=False, nat=nat, shared=shared, vrf=vrf,
            vrf_shared=False, labels=labels,
        )
        return self._commit(network_view(child), parent, pool, child)

    # -- IPs -----------------------------------------------------------------------------------

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
        specific = parse_address(specific_ip) if specific_ip is not None else None
        family = parse_family(address_family) if address_family else None
        with self._network_lock(network_id):
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
    @retrying
    def release_ip(self, address: str, *, context: RequestContext) -> dict[str, Any]:
        """Release an acquired address. Raises IPNotFoundError (404) and InvalidRequestError
        (400) for an IP with machine scope; ForbiddenError (403) below the editor role; an IP of
        another project is not found."""
        if context.principal is not None:
            context.principal.require(Role.editor, "release IPs")
        document = self._ip_document(address, context.principal)
        network = self._network(document["network_id"])
        network.release_ip(document["address"], context.as_event_field())
        return self._commit(document, network)

    @idempotent
    @retrying
    def update_ip(
        self, address: str, *, context: RequestContext, name: str | None = None,
        description: str | None = None, ip_type: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Update an IP's name, description, type and tags (SPEC 4); the editor role and one
        of the IP's projects, as for releasing."""
        if context.principal is not None:
            context.principal.require(Role.editor, "update IPs")
        document = self._ip_document(address, context.principal)
        network = self._network(document["network_id"])
        event = network.update_ip(
            document["address"], name=name, description=description,
            ip_type=ip_type or document["type"], tags=tags, context=context.as_event_field(),
        )
        return self._commit(apply_ip_update(document, event), network)

    def _ip_document(self, address: str, principal: Principal | None) -> dict[str, Any]:
        return self.get_ip(str(parse_address(address)), principal)

    # -- queries -------------------------------------------------------------------------------

    def _read(self) -> ReadModel:
        assert self.read_model is not None, "no read model attached"
        self.read_model.catch_up()
        return self.read_model

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

    def get_ip(self, address: str, principal: Principal | None = None) -> dict[str, Any]:
        """The acquired IP with this address; IPNotFoundError (404) when there is none or the
        principal may not see it."""
        canonical = str(parse_address(address))
        document = self._read().get_ip(canonical)
        if document is None:
            raise IPNotFoundError(f'ip with address "{canonical}" not found')
        visible_ip(principal, document, canonical)
        return document

    def list_ips(self, flt: IPFilter | None = None,
                 principal: Principal | None = None) -> list[dict[str, Any]]:
        """The IPs matching the filter that the principal may see."""
        found = self._read().find_ips(flt or IPFilter())
        if principal is None or principal.projects is None:
            return found
        return [d for d in found if principal.sees_ip(d["project_id"])]
