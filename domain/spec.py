"""Validation of a network's definition: the rules of SPEC section 2 in their order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv6Network

from domain.addressing import IPV4_MAPPED, Family, Prefix, parse_family_lengths, parse_prefix
from domain.errors import InvalidRequestError
from domain.network_values import NetworkAttributes

VRF_MIN, VRF_MAX = 1, 131072


@dataclass(frozen=True)
class NetworkSpec:
    """A validated definition of a network to create: its id, canonical prefixes and
    attributes."""

    network_id: str
    prefixes: tuple[str, ...]
    attributes: NetworkAttributes


def parse_prefixes(texts: Iterable[str]) -> list[Prefix]:
    """Parse prefixes strictly, in order; the first bad one raises."""
    return [parse_prefix(t) for t in texts]


def check_managed(prefixes: list[Prefix]) -> list[Prefix]:
    """A managed prefix may not hold IPv4-mapped IPv6 addresses (`::/64` does): each would be
    an IPv4 address handed out a second time under another name. Destination prefixes (`::/0`)
    are routes, not managed space, and are not checked."""
    for prefix in prefixes:
        if isinstance(prefix, IPv6Network) and prefix.overlaps(IPV4_MAPPED):
            raise InvalidRequestError(
                f'given prefix "{prefix}" holds the IPv4-mapped IPv6 addresses {IPV4_MAPPED}, '
                "which name IPv4 addresses a second time")
    return prefixes


def families_of(prefixes: Iterable[Prefix]) -> list[Family]:
    """The families present, IPv4 first."""
    present = {Family.of(p) for p in prefixes}
    return [f for f in (Family.IPV4, Family.IPV6) if f in present]


def check_destination_families(destinations: Sequence[Prefix], prefixes: Sequence[Prefix]) -> None:
    """Every family of the destination prefixes must be a family of the prefixes."""
    present = set(families_of(prefixes))
    for family in families_of(destinations):
        if family not in present:
            raise InvalidRequestError(
                f"addressfamily:{family.value} of destination prefixes is not present in "
                "existing prefixes"
            )


def check_child_lengths(lengths: dict[Family, int], prefixes: Sequence[Prefix]) -> None:
    """A private super needs a default child length per family present, each strictly greater
    than every prefix length of its family and at most the family's address length."""
    if not lengths:
        raise InvalidRequestError(
            "private super network must always contain a defaultchildprefixlength"
        )
    for family in families_of(prefixes):
        if family not in lengths:
            raise InvalidRequestError(
                "private super network must always contain a defaultchildprefixlength per "
                f"addressfamily:{family.value}"
            )
    for family, length in lengths.items():
        if length > family.max_length:
            raise InvalidRequestError(
                f"given defaultchildprefixlength {length} is greater than the maximum prefix "
                f"length {family.max_length} of addressfamily {family.value}"
            )
        for prefix in prefixes:
            if Family.of(prefix) is family and length <= prefix.prefixlen:
                raise InvalidRequestError(
                    f"given defaultchildprefixlength {length} is not greater than prefix "
                    f"length of:{prefix}"
                )


def check_vrf(vrf: int | None) -> None:
    """A VRF id must lie in the pool's range."""
    if vrf is not None and not VRF_MIN <= vrf <= VRF_MAX:
        raise InvalidRequestError(f"vrf {vrf} is outside the range [{VRF_MIN}, {VRF_MAX}]")


def validate_new_network(
    *, network_id: str, prefixes: list[str], attributes: NetworkAttributes,
    private_super_of_partition: str | None = None,
) -> NetworkSpec:
    """Check SPEC 2 rules 1-8 in order and return the canonical spec.

    `private_super_of_partition` is the id of the partition's existing private super network,
    if any. Raises InvalidRequestError with the SPEC's message at the first broken rule.
    """
    a = attributes
    if not prefixes:
        raise InvalidRequestError("no prefixes given")
    if a.default_child_prefix_length and not a.private_super:
        raise InvalidRequestError(
            "defaultchildprefixlength can only be set for privatesuper networks"
        )
    lengths = parse_family_lengths(a.default_child_prefix_length or {}, "defaultchildprefixlength")
    parsed = parse_prefixes(prefixes)
    check_managed(parsed)
    destinations = parse_prefixes(a.destination_prefixes)
    check_destination_families(destinations, parsed)
    if a.private_super:
        check_child_lengths(lengths, parsed)
        if private_super_of_partition is not None:
            raise InvalidRequestError(
                f'partition with id "{a.partition_id}" already has a private super network'
            )
    announcable = parse_prefixes(a.additional_announcable_cidrs)
    if announcable and not a.private_super:
        raise InvalidRequestError(
            "additionalannouncablecidrs can only be set in a private super network"
        )
    if (a.private_super or a.underlay) and a.nat:
        raise InvalidRequestError("private super or underlay network is not supposed to NAT")
    # the VRF range (rule 11) is checked by VrfPool.reserve, after id exists and overlap
    return NetworkSpec(
        network_id=network_id,
        prefixes=tuple(str(p) for p in parsed),
        attributes=replace(
            a, destination_prefixes=[str(p) for p in destinations],
            additional_announcable_cidrs=[str(p) for p in announcable],
            default_child_prefix_length={f.value: n for f, n in lengths.items()},
            labels=dict(a.labels or {}),
        ),
    )


def overlapping(new: Sequence[Prefix], existing: Iterable[Prefix]) -> tuple[Prefix, Prefix] | None:
    """The first pair (new, other) that overlaps, checking the new prefixes against each other
    and against the existing ones; None when all are disjoint."""
    seen: list[Prefix] = []
    for prefix in new:
        for other in seen:
            if prefix.version == other.version and prefix.overlaps(other):
                return prefix, other
        seen.append(prefix)
    for prefix in new:
        for other in existing:
            if prefix.version == other.version and prefix.overlaps(other):
                return prefix, other
    return None
