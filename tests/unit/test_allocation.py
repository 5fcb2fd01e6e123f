"""Pure allocation maths: IntRanges, and PrefixPool's addresses, best fit and buddy merging."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.addressing import Family
from domain.allocation import PrefixPool, carve, give_back_block, take_block
from domain.ranges import IntRanges


def pool(prefix: str) -> PrefixPool:
    return PrefixPool.new(ipaddress.ip_network(prefix))


def ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


# -- IntRanges -------------------------------------------------------------------------------


def test_int_ranges_merges_overlapping_and_adjacent_ranges() -> None:
    ranges = IntRanges(((10, 12), (1, 3), (4, 5), (11, 20), (30, 30)))
    assert ranges.ranges() == ((1, 5), (10, 20), (30, 30))
    assert len(ranges) == 5 + 11 + 1
    assert 4 in ranges and 25 not in ranges and 0 not in ranges


def test_int_ranges_rejects_empty_range() -> None:
    with pytest.raises(ValueError):
        IntRanges(((5, 4),))


def test_int_ranges_add_joins_neighbours_and_leaves_original_unchanged() -> None:
    base = IntRanges(((1, 3), (5, 7)))
    joined = base.add(4)
    assert joined.ranges() == ((1, 7),)
    assert base.ranges() == ((1, 3), (5, 7))
    assert base.add(0).ranges() == ((0, 3), (5, 7))
    assert base.add(8).ranges() == ((1, 3), (5, 8))
    assert base.add(10).ranges() == ((1, 3), (5, 7), (10, 10))
    assert len(base.add(10)) == len(base) + 1
    with pytest.raises(ValueError):
        base.add(6)


def test_int_ranges_remove_shrinks_or_splits_range() -> None:
    base = IntRanges(((1, 5), (9, 9)))
    assert base.remove(1).ranges() == ((2, 5), (9, 9))
    assert base.remove(5).ranges() == ((1, 4), (9, 9))
    assert base.remove(3).ranges() == ((1, 2), (4, 5), (9, 9))
    assert base.remove(9).ranges() == ((1, 5),)
    assert len(base.remove(3)) == len(base) - 1
    with pytest.raises(ValueError):
        base.remove(7)


def test_int_ranges_first_gap_finds_lowest_non_member_in_bounds() -> None:
    ranges = IntRanges(((0, 0), (2, 4), (10, 10)))
    assert IntRanges().first_gap(5, 9) == 5
    assert ranges.first_gap(0, 10) == 1
    assert ranges.first_gap(2, 10) == 5
    assert ranges.first_gap(5, 10) == 5
    assert ranges.first_gap(10, 10) is None
    assert ranges.first_gap(2, 4) is None


def test_int_ranges_first_member_above_excludes_low_bound() -> None:
    ranges = IntRanges(((2, 4), (10, 12)))
    assert ranges.first_member_above(0, 20) == 2
    assert ranges.first_member_above(2, 20) == 3
    assert ranges.first_member_above(4, 20) == 10
    assert ranges.first_member_above(4, 9) is None
    assert ranges.first_member_above(12, 20) is None
    assert IntRanges().first_member_above(0, 100) is None


def test_int_ranges_json_round_trip_keeps_equality() -> None:
    ranges = IntRanges(((1, 5), (9, 9)))
    assert IntRanges.from_json(ranges.to_json()) == ranges
    assert ranges.to_json() == [[1, 5], [9, 9]]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=80))
def test_int_ranges_behaves_like_a_set_under_any_add_remove_sequence(
    ops: list[tuple[bool, int]]
) -> None:
    ranges, model = IntRanges(), set[int]()
    for adding, value in ops:
        if adding and value not in model:
            ranges, model = ranges.add(value), model | {value}
        elif not adding and value in model:
            ranges, model = ranges.remove(value), model - {value}
    pairs = ranges.ranges()
    assert all(e >= s for s, e in pairs)
    assert all(b[0] > a[1] + 1 for a, b in zip(pairs, pairs[1:], strict=False))  # disjoint, not adjacent
    assert {v for s, e in pairs for v in range(s, e + 1)} == model
    assert len(ranges) == len(model)
    assert ranges == IntRanges(tuple((v, v) for v in model))
    expected_gap = next((v for v in range(0, 61) if v not in model), None)
    assert ranges.first_gap(0, 60) == expected_gap
    expected_member = min((v for v in model if v > 20), default=None)
    assert ranges.first_member_above(20, 60) == expected_member


# -- addresses in a prefix -------------------------------------------------------------------


def test_prefix_pool_ipv4_reserves_network_and_broadcast() -> None:
    fresh = pool("10.0.0.0/24")
    assert (fresh.reserved, fresh.acquired, len(fresh.used)) == (2, 0, 2)
    assert fresh.lowest_free_address() == ip("10.0.0.1")
    assert fresh.is_reserved(ip("10.0.0.0")) and fresh.is_reserved(ip("10.0.0.255"))
    assert not fresh.is_reserved(ip("10.0.0.1"))


def test_prefix_pool_lowest_free_address_fills_holes_first() -> None:
    taken = pool("10.0.0.0/29")
    for last_octet in (1, 2, 3, 4):
        taken = taken.with_address(ip(f"10.0.0.{last_octet}"))
    holed = taken.without_address(ip("10.0.0.3")).without_address(ip("10.0.0.2"))
    assert holed.lowest_free_address() == ip("10.0.0.2")
    assert holed.acquired == 2
    assert holed.first_acquired_address() == ip("10.0.0.1")
    full = taken.with_address(ip("10.0.0.5")).with_address(ip("10.0.0.6"))
    assert full.lowest_free_address() is None  # .7 is the broadcast


@pytest.mark.parametrize(("prefix", "free"), [
    ("10.0.0.0/31", []), ("10.0.0.7/32", []), ("2001:db8::/127", ["2001:db8::1"]),
    ("2001:db8::/128", []), ("2001:db8::/126", ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
])
def test_prefix_pool_hands_out_addresses_of_tiny_prefixes(prefix: str, free: list[str]) -> None:
    current = pool(prefix)
    handed: list[str] = []
    while (number := current.lowest_free_address()) is not None:
        handed.append(str(ipaddress.ip_address(number)))
        current = current.with_address(number)
    assert handed == free
    assert current.acquired == len(free)


def test_prefix_pool_first_acquired_address_skips_reserved() -> None:
    fresh = pool("10.0.0.0/24")
    assert fresh.first_acquired_address() is None
    assert fresh.with_address(ip("10.0.0.200")).first_acquired_address() == ip("10.0.0.200")


# -- child prefixes ----------------------------------------------------------------------------


def test_best_fit_takes_smallest_free_block_not_first() -> None:
    super_ = pool("10.0.0.0/16")
    big = super_.best_fit(17)
    assert big == ip("10.0.0.0")
    super_ = super_.with_child(big, 17)
    small = super_.best_fit(24)
    assert small == ip("10.0.128.0")
    super_ = super_.with_child(small, 24).without_child(big, 17)
    # first fit would answer 10.0.0.0 (the freed /17); best fit stays next to the /24
    assert super_.free_prefixes()[0] == "10.0.0.0/17"
    assert super_.best_fit(24) == ip("10.0.129.0")


def test_best_fit_lays_fresh_children_side_by_side() -> None:
    super_ = pool("10.0.0.0/16")
    starts = []
    for _ in range(3):
        start = super_.best_fit(22)
        assert start is not None
        starts.append(str(ipaddress.ip_address(start)))
        super_ = super_.with_child(start, 22)
    assert starts == ["10.0.0.0", "10.0.4.0", "10.0.8.0"]
    assert super_.children == 3


def test_release_merges_buddies_back_into_one_block() -> None:
    super_ = pool("10.0.0.0/16")
    children = []
    for length in (22, 24, 20, 30, 22, 17):
        start = super_.best_fit(length)
        assert start is not None
        super_ = super_.with_child(start, length)
        children.append((start, length))
    assert len(super_.free) > 1
    for start, length in list(reversed(children[::2])) + children[1::2]:
        super_ = super_.without_child(start, length)
    assert super_.free == ((ip("10.0.0.0"), 16),)
    assert super_.children == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=97, max_value=128), min_size=1, max_size=25),
       st.randoms(use_true_random=False))
def test_any_allocations_released_in_any_order_leave_one_free_block(
    lengths: list[int], rnd: random.Random
) -> None:
    current = pool("2001:db8::/96")
    taken = []
    for length in lengths:
        start = current.best_fit(length)
        if start is None:
            continue
        current = current.with_child(start, length)
        taken.append((start, length))
    covered = sum(1 << (128 - n) for _, n in taken) + sum(1 << (128 - n) for _, n in current.free)
    assert covered == 1 << 32  # children and free blocks tile the prefix
    rnd.shuffle(taken)
    for start, length in taken:
        current = current.without_child(start, length)
    assert current.free == ((ip("2001:db8::"), 96),)


def test_prefix_pool_exhausts_and_recovers_after_release() -> None:
    current = pool("10.0.0.0/24")
    quarters = []
    while (start := current.best_fit(26)) is not None:
        current = current.with_child(start, 26)
        quarters.append(start)
    assert len(quarters) == 4
    assert current.free == ()
    assert current.best_fit(32) is None
    assert current.usage()["available_prefixes"] == 0
    current = current.without_child(quarters[2], 26)
    assert current.best_fit(30) == quarters[2]
    assert current.free_prefixes() == ["10.0.0.128/26"]


@pytest.mark.parametrize(("prefix", "length", "expected"), [
    ("10.0.0.0/30", 31, ["10.0.0.0/31", "10.0.0.2/31"]),
    ("10.0.0.0/31", 32, ["10.0.0.0/32", "10.0.0.1/32"]),
    ("2001:db8::/126", 127, ["2001:db8::/127", "2001:db8::2/127"]),
    ("2001:db8::/127", 128, ["2001:db8::/128", "2001:db8::1/128"]),
])
def test_smallest_children_fill_prefix_exactly(prefix: str, length: int, expected: list[str]) -> None:
    current = pool(prefix)
    family = current.family
    carved = []
    while (start := current.best_fit(length)) is not None:
        current = current.with_child(start, length)
        carved.append(str(ipaddress.ip_network((start, length))))
    assert carved == expected
    assert current.free == ()
    floor = current.network.prefixlen
    free = give_back_block(family, current.free, current.first, length, floor)
    assert free == ((current.first, length),)  # its buddy is still taken: no merge
    buddy = int(ipaddress.ip_network(carved[1]).network_address)
    free = give_back_block(family, free, buddy, length, floor)
    assert free == ((current.first, floor),)


def test_take_block_refuses_space_that_is_not_free() -> None:
    free = take_block(Family.IPV4, ((ip("10.0.0.0"), 24),), ip("10.0.0.0"), 25)
    assert free == ((ip("10.0.0.128"), 25),)
    with pytest.raises(ValueError):
        take_block(Family.IPV4, free, ip("10.0.0.64"), 26)


def test_carve_routes_each_child_to_the_pool_holding_it() -> None:
    pools = {p: pool(p) for p in ("10.0.0.0/16", "2001:db8::/64")}
    carved = carve(pools, ["10.0.4.0/22", "2001:db8::/96"], add=True)
    assert carved["10.0.0.0/16"].children == 1 and carved["2001:db8::/64"].children == 1
    assert "10.0.4.0/22" not in carved["10.0.0.0/16"].free_prefixes()
    assert carve(carved, ["10.0.4.0/22", "2001:db8::/96"], add=False) == pools


def test_prefix_pool_json_round_trip_keeps_state() -> None:
    current = pool("10.0.0.0/16").with_child(ip("10.0.4.0"), 22).with_address(ip("10.0.200.7"))
    assert PrefixPool.from_json(current.to_json()) == current
