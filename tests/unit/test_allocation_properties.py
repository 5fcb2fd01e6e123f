"""Properties of the pure allocator: best fit over random carve/give-back sequences.

The oracle below recomputes, from the child blocks alone, the free space as the unique set of
maximal aligned free blocks, so it shares no code with `domain.allocation`.
"""

from __future__ import annotations

import ipaddress
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.addressing import Family
from domain.allocation import Block, PrefixPool, carve

PREFIXES = ("10.0.0.0/22", "10.1.0.0/28", "2001:db8::/116", "2001:db8:1::/64")


def canonical_free(start: int, length: int, max_length: int, taken: list[Block]) -> list[Block]:
    """The maximal aligned blocks of (start, length) that no taken block touches, by address."""
    end = start + (1 << (max_length - length))
    inside = [(s, n) for s, n in taken if s < end and s + (1 << (max_length - n)) > start]
    if not inside:
        return [(start, length)]
    if any(n <= length for _, n in inside):  # aligned: a taken block this big covers the block
        return []
    half = 1 << (max_length - length - 1)
    return (canonical_free(start, length + 1, max_length, taken)
            + canonical_free(start + half, length + 1, max_length, taken))


def best_fit_oracle(free: list[Block], length: int) -> int | None:
    """Start of the smallest free block that holds `length`, lowest address on ties."""
    fitting = [(s, n) for s, n in free if n <= length]
    if not fitting:
        return None
    return min(fitting, key=lambda block: (-block[1], block[0]))[0]


def pool_free(pool: PrefixPool, taken: list[Block]) -> list[Block]:
    net = pool.network
    return canonical_free(int(net.network_address), net.prefixlen, net.max_prefixlen, taken)


@st.composite
def carve_sequences(draw: st.DrawFn) -> tuple[str, list[tuple[str, int]]]:
    """A prefix and a sequence of ("carve", length) / ("free", index) operations."""
    prefix = draw(st.sampled_from(PREFIXES))
    net = ipaddress.ip_network(prefix)
    lengths = st.integers(net.prefixlen, min(net.max_prefixlen, net.prefixlen + 12))
    operations = draw(st.lists(
        st.one_of(st.tuples(st.just("carve"), lengths),
                  st.tuples(st.just("free"), st.integers(0, 63))),
        max_size=40,
    ))
    return prefix, operations


@settings(max_examples=200, deadline=None)
@given(carve_sequences())
def test_best_fit_picks_smallest_free_aligned_block_for_random_lengths(
    case: tuple[str, list[tuple[str, int]]],
) -> None:
    prefix, operations = case
    pool = PrefixPool.new(ipaddress.ip_network(prefix))
    family = Family.of(pool.network)
    taken: list[Block] = []
    for operation, value in operations:
        free = pool_free(pool, taken)
        assert list(pool.free) == free
        if operation == "free":
            if taken:
                pool = pool.without_child(*taken.pop(value % len(taken)))
            continue
        length = value
        found = pool.best_fit(length)
        assert found == best_fit_oracle(free, length)
        if found is None:
            assert all(n > length for _, n in free)
            continue
        start = found
        size = 1 << (family.max_length - length)
        assert start % size == 0  # aligned
        holder = [(s, n) for s, n in free if s <= start < s + (1 << (family.max_length - n))]
        assert len(holder) == 1 and holder[0][1] <= length  # free and big enough
        assert holder[0][1] == max(n for _, n in free if n <= length)  # the smallest fitting
        pool = pool.with_child(start, length)
        taken.append((start, length))
        assert pool.children == len(taken)
    assert list(pool.free) == pool_free(pool, taken)
    free_space = sum(1 << (family.max_length - n) for _, n in pool.free)
    carved = sum(1 << (family.max_length - n) for _, n in taken)
    assert free_space + carved == pool.network.num_addresses


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(PREFIXES), st.lists(st.integers(0, 12), max_size=30), st.randoms())
def test_giving_back_every_child_restores_free_space_in_any_order(
    prefix: str, extra_bits: list[int], rnd: random.Random,
) -> None:
    fresh = PrefixPool.new(ipaddress.ip_network(prefix))
    pool = fresh
    taken: list[Block] = []
    for bits in extra_bits:
        length = min(pool.network.prefixlen + bits, pool.network.max_prefixlen)
        start = pool.best_fit(length)
        if start is not None:
            pool = pool.with_child(start, length)
            taken.append((start, length))
    rnd.shuffle(taken)
    for start, length in taken:
        pool = pool.without_child(start, length)
    assert pool.free == fresh.free == ((int(pool.network.network_address), pool.network.prefixlen),)
    assert pool.children == 0
    assert pool == fresh


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Family.IPV4, Family.IPV6]), st.integers(1, 8)),
                max_size=12), st.randoms())
def test_carve_and_give_back_restore_dual_stack_pools_when_children_come_and_go(
    requests: list[tuple[Family, int]], rnd: random.Random,
) -> None:
    nets = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8::/120")]
    fresh = {str(net): PrefixPool.new(net) for net in nets}
    pools = dict(fresh)
    children: list[str] = []
    for family, bits in requests:
        pool = next(p for p in pools.values() if p.family is family)
        length = pool.network.prefixlen + bits
        start = pool.best_fit(length)
        if start is None:
            continue
        child = str(ipaddress.ip_network((start, length)))
        pools = carve(pools, [child], add=True)
        children.append(child)
    assert sum(p.children for p in pools.values()) == len(children)
    rnd.shuffle(children)
    pools = carve(pools, children, add=False)
    assert pools == fresh
    assert list(pools) == list(fresh)
