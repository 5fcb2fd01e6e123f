"""Validation of a network's definition: the rules of SPEC section 2 in their order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Network

from domain.addressing import IPV4_MAPPED, Family, Prefix, parse_family_lengths, parse_prefix
from domain.errors import InvalidRequestError

VRF_MIN, VRF_MAX = 1, 131072


@dataclass(frozen=True)
class NetworkSpec:
    """A validated definition of a network to create (strings at the edges, canonical)."""

    network_id: str
    prefixes: tuple[str, ...]
    destination_prefixes: tuple[str, ...] = ()
    name: str = ""
    description: str = ""
    partition_id: str = ""
    project_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    default_child_prefix_length: dict[str, int] = field(default_factory=dict)
    additional_announcable_cidrs: tuple[str, ...] = ()
    private_super: bool = False
    underlay: bool = False
    nat: bool = False
    shared: bool = False
    vrf: int | None = None
    vrf_shared: bool = False


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
    *,
    network_id: str,
    prefixes: Sequence[str],
    destination_prefixes: Sequence[str] = (),
    name: str = "",
    description: str = "",
    partition_id: str = "",
    project_id: str = "",
    labels: dict[str, str] | None = None,
    default_child_prefix_length: dict[str, int] | None = None,
    additional_announcable_cidrs: Sequence[str] = (),
    private_super: bool = False,
    underlay: bool = False,
    nat: bool = False,
    shared: bool = False,
    vrf: int | None = None,
    vrf_shared: bool = False,
    private_super_of_partition: str | None = None,
) -> NetworkSpec:
    """Check SPEC 2 rules 1-8 in order and return the canonical spec.

    `private_super_of_partition` is the id of the partition's existing private super network,
    if any. Raises InvalidRequestError with the SPEC's message at the first broken rule.
    """
    if not prefixes:
        raise InvalidRequestError("no prefixes given")
    if default_child_prefix_length and not private_super:
        raise InvalidRequestError(
            "defaultchildprefixlength can only be set for privatesuper networks"
        )
    lengths = parse_family_lengths(default_child_prefix_length or {}, "defaultchildprefixlength")
    parsed = parse_prefixes(prefixes)
    check_managed(parsed)
    destinations = parse_prefixes(destination_prefixes)
    check_destination_families(destinations, parsed)
    if private_super:
        check_child_lengths(lengths, parsed)
        if private_super_of_partition is not None:
            raise InvalidRequestError(
                f'partition with id "{partition_id}" already has a private super network'
            )
    announcable = parse_prefixes(additional_announcable_cidrs)
    if announcable and not private_super:
        raise InvalidRequestError(
            "additionalannouncablecidrs can only be set in a private super network"
        )
    if (private_super or underlay) and nat:
        raise InvalidRequestError("private super or underlay network is not supposed to NAT")
    # the VRF range (rule 11) is checked by VrfPool.reserve, after id exists and overlap
    return NetworkSpec(
        network_id=network_id,
        prefixes=tuple(str(p) for p in parsed),
        destination_prefixes=tuple(str(p) for p in destinations),
        name=name,
        description=description,
        partition_id=partition_id,
        project_id=project_id,
        labels=dict(labels or {}),
        default_child_prefix_length={f.value: n for f, n in lengths.items()},
        additional_announcable_cidrs=tuple(str(p) for p in announcable),
        private_super=private_super,
        underlay=underlay,
        nat=nat,
        shared=shared,
        vrf=vrf,
        vrf_shared=vrf_shared,
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
