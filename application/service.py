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
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, OperationalError

from application.context import RequestContext
from application.ports import IPFilter, NetworkFilter, ReadModel
from application.views import apply_ip_update, ip_document, network_view
from domain.addressing import Family, parse_address, parse_family, parse_family_lengths
from domain.errors import (
    AlreadyExistsError,
    ConcurrentUpdateError,
    InvalidRequestError,
    IPNotFoundError,
    NetworkNotFoundError,
    NotFoundError,
)
from domain.namespace import Namespace, VrfPool, namespace_uuid, vrf_pool_uuid
from domain.network import Network, network_uuid
from domain.spec import (
    check_child_lengths,
    check_destination_families,
    parse_prefixes,
    validate_new_network,
)

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 40


def retrying(command: Callable[P, R]) -> Callable[P, R]:
    """Run the command again from a fresh load when a concurrent save won the race."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        delay = 0.0005
        for _ in range(MAX_ATTEMPTS):
            try:
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


class IpamApplication(Application[UUID]):
    """Networks, child networks and IPs, event-sourced."""

    name = "ipam"
    read_model: ReadModel | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._network_locks: dict[str, threading.Lock] = {}
        self._network_locks_guard = threading.Lock()

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

    def _namespace(self) -> Namespace:
        try:
            return self.repository.get(namespace_uuid())
        except AggregateNotFoundError:
            return Namespace.start()

    def _vrf_pool(self) -> VrfPool:
        try:
            return self.repository.get(vrf_pool_uuid())
        except AggregateNotFoundError:
            return VrfPool.start()

    # -- networks ------------------------------------------------------------------------------

    def create_network(
        self, *, context: RequestContext, network_id: str = "", prefixes: list[str],
        parent_id: str = "", **attributes: Any,
    ) -> dict[str, Any]:
        """Create a network (SPEC 2). Raises InvalidRequestError (400), AlreadyExistsError and
        OverlapError (409)."""
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
        namespace = self._namespace()
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
            pool = self._vrf_pool()
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
        self.save(*touched, network)
        return network_view(network)

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
        (404), OverlapError and InUseError (409)."""
        ctx = context.as_event_field()
        network = self._network(network_id)
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
            namespace = self._namespace()
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
        self.save(*touched)
        return network_view(network)

    @retrying
    def delete_network(
        self, network_id: str, *, context: RequestContext, only_child: bool = False
    ) -> dict[str, Any]:
        """Delete a network; a child's prefixes go back to its super and its VRF to the pool.
        Raises NetworkNotFoundError (404), InUseError (409) and, with `only_child`,
        InvalidRequestError for a network that is not a child."""
        ctx = context.as_event_field()
        network = self._network(network_id)
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
            namespace = self._namespace()
            namespace.release(network_id, network.prefixes, ctx)
            namespace.unregister_private_super(network.partition_id, network_id, ctx)
            touched.append(namespace)
        if network.vrf is not None:
            pool = self._vrf_pool()
            pool.release(network.vrf, network_id, network.vrf_shared, ctx)
            touched.append(pool)
        self.save(*touched)
        return view

    def allocate_child_network(
        self, *, context: RequestContext, partition_id: str, project_id: str, name: str = "",
        description: str = "", labels: dict[str, str] | None = None, shared: bool = False,
        nat: bool = False, destination_prefixes: list[str] | None = None,
        length: dict[str, int] | None = None, address_family: str | None = None,
    ) -> dict[str, Any]:
        """Carve a child network out of the partition's private super (SPEC 3), all or
        nothing. Raises InvalidRequestError (400), NotFoundError (404), ExhaustedError (409)."""
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
        super_id = self._namespace().private_super_of(partition_id)
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
        pool = self._vrf_pool()
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
        self.save(parent, pool, child)
        return network_view(child)

    # -- IPs -----------------------------------------------------------------------------------

    def acquire_ip(
        self, *, context: RequestContext, network_id: str, project_id: str,
        specific_ip: str | None = None, address_family: str | None = None, name: str = "",
        description: str = "", ip_type: str = "", tags: list[str] | None = None,
        machine_id: str = "",
    ) -> dict[str, Any]:
        """Acquire the lowest free address (or a specific one) of a network (SPEC 4)."""
        if not network_id:
            raise InvalidRequestError("networkid should not be empty")
        if not project_id:
            raise InvalidRequestError("projectid should not be empty")
        specific = parse_address(specific_ip) if specific_ip is not None else None
        family = parse_family(address_family) if address_family else None
        with self._network_lock(network_id):
            return self._acquire_ip(
                ctx=context.as_event_field(), network_id=network_id, project_id=project_id,
                specific=specific, family=family, name=name, description=description,
                ip_type=ip_type or "ephemeral", tags=list(tags or []), machine_id=machine_id,
            )

    @retrying
    def _acquire_ip(
        self, *, ctx: dict[str, Any], network_id: str, project_id: str, specific: Any,
        family: Family | None, name: str, description: str, ip_type: str, tags: list[str],
        machine_id: str,
    ) -> dict[str, Any]:
        network = self._network(network_id)
        event = network.acquire_ip(
            project_id=project_id, allocation_uuid=str(uuid4()), address_family=family,
            specific=specific, name=name, description=description, ip_type=ip_type, tags=tags,
            machine_id=machine_id, context=ctx,
        )
        self.save(network)
        return ip_document(event, network_id)

    @retrying
    def release_ip(self, address: str, *, context: RequestContext) -> dict[str, Any]:
        """Release an acquired address. Raises IPNotFoundError (404) and InvalidRequestError
        (400) for an IP with machine scope."""
        document = self._ip_document(address)
        network = self._network(document["network_id"])
        network.release_ip(document["address"], context.as_event_field())
        self.save(network)
        return document

    @retrying
    def update_ip(
        self, address: str, *, context: RequestContext, name: str | None = None,
        description: str | None = None, ip_type: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Update an IP's name, description, type and tags (SPEC 4)."""
        document = self._ip_document(address)
        network = self._network(document["network_id"])
        event = network.update_ip(
            document["address"], name=name, description=description,
            ip_type=ip_type or document["type"], tags=tags, context=context.as_event_field(),
        )
        self.save(network)
        return apply_ip_update(document, event)

    def _ip_document(self, address: str) -> dict[str, Any]:
        canonical = str(parse_address(address))
        document = self.get_ip(canonical)
        return document

    # -- queries -------------------------------------------------------------------------------

    def _read(self) -> ReadModel:
        assert self.read_model is not None, "no read model attached"
        self.read_model.catch_up()
        return self.read_model

    def get_network(self, network_id: str) -> dict[str, Any]:
        """The network with this id; NetworkNotFoundError (404) when there is none."""
        document = self._read().get_network(network_id)
        if document is None:
            raise NetworkNotFoundError(f'network with id "{network_id}" not found')
        return document

    def list_networks(self, flt: NetworkFilter | None = None) -> list[dict[str, Any]]:
        return self._read().find_networks(flt or NetworkFilter())

    def get_ip(self, address: str) -> dict[str, Any]:
        """The acquired IP with this address; IPNotFoundError (404) when there is none."""
        canonical = str(parse_address(address))
        document = self._read().get_ip(canonical)
        if document is None:
            raise IPNotFoundError(f'ip with address "{canonical}" not found')
        return document

    def list_ips(self, flt: IPFilter | None = None) -> list[dict[str, Any]]:
        return self._read().find_ips(flt or IPFilter())
