"""Which address an acquisition gets (SPEC 4): the lowest free one of the family, or the one
asked for, under the rules of the network it is acquired in."""

from __future__ import annotations

from collections.abc import Iterable

from domain.addressing import Address, Family
from domain.allocation import PrefixPool
from domain.errors import ConflictError, ExhaustedError, InvalidRequestError, UnprocessableError
from domain.network_values import IP_TYPES


def check_ip_type(ip_type: str) -> None:
    if ip_type not in IP_TYPES:
        raise InvalidRequestError(f'ip type "{ip_type}" is invalid, must be ephemeral or static')


def check_type_change(current: str, new: str) -> None:
    check_ip_type(new)
    if current == "static" and new == "ephemeral":
        raise InvalidRequestError("cannot change type of ip address from static to ephemeral")


def choose_address(
    network_id: str, pools: Iterable[PrefixPool], address_family: Family | None,
    specific: Address | None,
) -> tuple[PrefixPool, Address]:
    """The pool and address an acquisition gets. Family when none is asked: IPv4 unless the
    network has none. InvalidRequestError (400), UnprocessableError (422), ConflictError (409)
    for a specific address taken, ExhaustedError (422) when the family is full."""
    pools = list(pools)
    if specific is not None and address_family is not None:
        raise InvalidRequestError("it is not possible to specify specificIP and addressfamily")
    families = {pool.family for pool in pools}
    if address_family is not None and address_family not in families:
        raise InvalidRequestError(
            f"there is no prefix for the given addressfamily:{address_family.value} present "
            f"in network:{network_id}")
    if specific is not None:
        number = int(specific)
        pool_of = next((p for p in pools if p.network.version == specific.version
                        and p.contains(number)), None)
        if pool_of is None:
            raise UnprocessableError(
                f"specific ip not contained in any of the defined prefixes: {specific} is not in "
                f'network with id "{network_id}" ({", ".join(p.prefix for p in pools)})')
        if pool_of.children:
            raise UnprocessableError(f"prefix {pool_of.prefix} has childprefixes, acquire ip not possible")
        if number in pool_of.used:
            raise ConflictError(
                f'Conflict ip already allocated: {specific} in network with id "{network_id}"')
        return pool_of, specific
    family = address_family or (Family.IPV4 if Family.IPV4 in families else Family.IPV6)
    for pool in pools:
        if pool.family is not family or pool.children:
            continue
        lowest = pool.lowest_free_address()
        if lowest is not None:
            return pool, type(pool.network.network_address)(lowest)
    raise ExhaustedError(f"no more ips in network {network_id} for addressfamily {family.value}")
