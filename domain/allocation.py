"""Pure allocation maths for one prefix: best-fit child blocks, lowest free address, usage.

A `PrefixPool` is the immutable bookkeeping of one prefix of a network: the addresses taken
in it (ranges, reserved ones included), the free space left for child prefixes (aligned
blocks), and counts. Both the `Network` aggregate and the read-model projection fold events
through these same methods, so the figures they report cannot drift apart.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Any

from domain.addressing import Family, Prefix, family_of_prefix_text
from domain.ranges import IntRanges

GO_IPAM_CAP = 2_147_483_647  # go-ipam caps per-prefix figures at MaxInt32

Block = tuple[int, int]  # (first address as int, prefix length)


def block_size(family: Family, length: int) -> int:
    """Number of addresses in a block of this length."""
    return 1 << (family.max_length - length)


def block_text(family: Family, block: Block) -> str:
    """Canonical CIDR text of a block."""
    start, length = block
    net: Prefix = (
        ipaddress.IPv4Network((start, length)) if family is Family.IPV4
        else ipaddress.IPv6Network((start, length))
    )
    return str(net)


def reserved_ranges(prefix: Prefix) -> tuple[tuple[int, int], ...]:
    """go-ipam's reserved addresses: the first of every prefix, and IPv4's last (broadcast)."""
    first = int(prefix.network_address)
    last = int(prefix.broadcast_address)
    if prefix.version == 4 and last != first:
        return ((first, first), (last, last))
    return ((first, first),)


def take_block(family: Family, free: tuple[Block, ...], start: int, length: int) -> tuple[Block, ...]:
    """Free space after carving the aligned block (start, length) out of the free block holding it."""
    blocks = list(free)
    index = None
    for i, (bstart, blen) in enumerate(blocks):
        if blen <= length and bstart <= start < bstart + block_size(family, blen):
            index = i
            break
    if index is None:
        raise ValueError("block is not free")
    bstart, blen = blocks.pop(index)
    # buddy split: every half that does not hold the child stays free
    for level in range(blen + 1, length + 1):
        half = block_size(family, level)
        child_half = start & ~(half - 1)
        # the sibling of the half holding the child at this level
        insort(blocks, (child_half ^ half, level))
    return tuple(blocks)


def give_back_block(
    family: Family, free: tuple[Block, ...], start: int, length: int, floor: int
) -> tuple[Block, ...]:
    """Free space after returning the block (start, length), merging buddies down to `floor`."""
    blocks = list(free)
    while length > floor:
        buddy = (start ^ block_size(family, length), length)
        i = bisect_left(blocks, buddy)
        if i < len(blocks) and blocks[i] == buddy:
            del blocks[i]
            start, length = min(start, buddy[0]), length - 1
        else:
            break
    insort(blocks, (start, length))
    return tuple(blocks)


@dataclass(frozen=True)
class PrefixPool:
    """Immutable bookkeeping of one prefix of a network."""

    prefix: str
    used: IntRanges  # addresses taken: reserved plus acquired
    free: tuple[Block, ...]  # space not covered by child prefixes, as aligned blocks
    children: int = 0  # child prefixes carved from this prefix
    network: Prefix = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.network is None:
            object.__setattr__(self, "network", ipaddress.ip_network(self.prefix))

    def __deepcopy__(self, memo: dict[int, Any]) -> PrefixPool:
        return self  # immutable

    @classmethod
    def new(cls, prefix: Prefix) -> PrefixPool:
        """A fresh prefix: only the reserved addresses are taken, all space is free."""
        return cls(
            prefix=str(prefix),
            used=IntRanges(reserved_ranges(prefix)),
            free=((int(prefix.network_address), prefix.prefixlen),),
            network=prefix,
        )

    @property
    def family(self) -> Family:
        return family_of_prefix_text(self.prefix)

    @property
    def first(self) -> int:
        return int(self.network.network_address)

    @property
    def last(self) -> int:
        return int(self.network.broadcast_address)

    @property
    def reserved(self) -> int:
        return len(reserved_ranges(self.network))

    @property
    def acquired(self) -> int:
        """Acquired addresses, reserved ones excluded."""
        return len(self.used) - self.reserved

    def is_reserved(self, address: int) -> bool:
        return any(s <= address <= e for s, e in reserved_ranges(self.network))

    def contains(self, address: int) -> bool:
        return self.first <= address <= self.last

    # -- addresses ---------------------------------------------------------------------------

    def lowest_free_address(self) -> int | None:
        """The lowest address not taken, or None when the prefix is full. O(log n)."""
        return self.used.first_gap(self.first, self.last)

    def first_acquired_address(self) -> int | None:
        """The lowest acquired (not reserved) address, for messages."""
        candidate = self.used.first_member_above(self.first, self.last)
        while candidate is not None and self.is_reserved(candidate):
            candidate = self.used.first_member_above(candidate, self.last)
        return candidate

    def with_address(self, address: int) -> PrefixPool:
        return PrefixPool(self.prefix, self.used.add(address), self.free, self.children, self.network)

    def without_address(self, address: int) -> PrefixPool:
        return PrefixPool(self.prefix, self.used.remove(address), self.free, self.children, self.network)

    # -- child prefixes ----------------------------------------------------------------------

    def best_fit(self, length: int) -> int | None:
        """Start of the child block chosen by best fit: the smallest free aligned block that
        can hold a prefix of `length`, lowest address on ties; None when nothing fits."""
        best: Block | None = None
        for start, blen in self.free:
            if blen <= length and (best is None or blen > best[1]):
                best = (start, blen)
        return None if best is None else best[0]

    def with_child(self, start: int, length: int) -> PrefixPool:
        free = take_block(self.family, self.free, start, length)
        return PrefixPool(self.prefix, self.used, free, self.children + 1, self.network)

    def without_child(self, start: int, length: int) -> PrefixPool:
        free = give_back_block(self.family, self.free, start, length, self.network.prefixlen)
        return PrefixPool(self.prefix, self.used, free, self.children - 1, self.network)

    def free_prefixes(self) -> list[str]:
        """The free space as CIDRs, in address order."""
        return [block_text(self.family, b) for b in self.free]

    # -- figures -----------------------------------------------------------------------------

    def usage(self) -> dict[str, int]:
        """go-ipam's per-prefix figures (see SPEC section 6)."""
        family = self.family
        host_bits = family.max_length - self.network.prefixlen
        available_ips = (1 << host_bits) if host_bits <= 31 else GO_IPAM_CAP
        small = family.block_length
        available_prefixes = sum(
            1 << (small - blen) for _, blen in self.free if blen <= small
        )
        return {
            "available_ips": available_ips,
            "available_prefixes": min(available_prefixes, GO_IPAM_CAP),
            "used_ips": len(self.used),
            "used_prefixes": self.children,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "used": self.used.to_json(),
            "free": [[start, length] for start, length in self.free],
            "children": self.children,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrefixPool:
        return cls(
            prefix=data["prefix"],
            used=IntRanges.from_json(data["used"]),
            free=tuple((int(start), int(length)) for start, length in data["free"]),
            children=int(data["children"]),
        )


def carve(pools: dict[str, PrefixPool], prefixes: list[str], *, add: bool) -> dict[str, PrefixPool]:
    """Pools after carving child prefixes out of (add) or returning them to (not add) the pool
    whose prefix holds each."""
    result = dict(pools)
    for text in prefixes:
        child = ipaddress.ip_network(text)
        for key, pool in result.items():
            if pool.network.version == child.version and child.subnet_of(pool.network):  # type: ignore[arg-type]
                start = int(child.network_address)
                result[key] = (pool.with_child(start, child.prefixlen) if add
                               else pool.without_child(start, child.prefixlen))
                break
    return result
