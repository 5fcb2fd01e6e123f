"""The console's free-space map: exact layout of address space onto columns, children as
links, acquired density, the domain's largest free block, a small and safe SVG."""

from __future__ import annotations

import ipaddress
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from api.console.freemap import (
    BAR,
    COLUMNS,
    LEVELS,
    WIDE_FREE,
    Segment,
    free_space_map,
    free_space_segments,
    free_space_summary,
)
from domain.allocation import PrefixPool
from domain.consumption import capacity, free_addresses
from domain.ranges import IntRanges

SVG = "{http://www.w3.org/2000/svg}"
KINDS = ("child", "acquired", "free", "reserved")


def pool(prefix: str) -> PrefixPool:
    return PrefixPool.new(ipaddress.ip_network(prefix))


def carve(p: PrefixPool, *cidrs: str) -> PrefixPool:
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        p = p.with_child(int(net.network_address), net.prefixlen)
    return p


def best_fit(p: PrefixPool, length: int, count: int) -> tuple[PrefixPool, list[str]]:
    """`count` children carved as the allocator picks them."""
    carved = []
    for _ in range(count):
        start = p.best_fit(length)
        assert start is not None
        p = p.with_child(start, length)
        carved.append(str(ipaddress.ip_network((start, length))))
    return p, carved


def acquire(p: PrefixPool, *addresses: str | int) -> PrefixPool:
    for address in addresses:
        p = p.with_address(int(ipaddress.ip_address(address)) if isinstance(address, str)
                           else address)
    return p


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def shapes(root: ET.Element) -> dict[str, list[ET.Element]]:
    """The drawn segment rectangles by kind (the class of their group)."""
    segments = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "fm-segments")
    found: dict[str, list[ET.Element]] = {kind: [] for kind in KINDS}
    for group in segments:
        kind = group.get("class", "").removeprefix("fm-")
        found[kind] += list(group.iter(f"{SVG}rect"))
    return found


def largest_outline(root: ET.Element) -> ET.Element | None:
    return next((g for g in root.iter(f"{SVG}g") if g.get("class") == "fm-largest"), None)


def rows_of(segments: list[Segment]) -> dict[int, list[Segment]]:
    rows: dict[int, list[Segment]] = {}
    for seg in segments:
        rows.setdefault(seg.row, []).append(seg)
    return rows


def assert_tiles(p: PrefixPool, segments: list[Segment]) -> None:
    """Every row is covered once, left to right, and the addresses follow one another."""
    rows = rows_of(segments)
    assert sorted(rows) == list(range(min(8, int(p.network.num_addresses))))
    for row in rows.values():
        x = 0
        for seg in row:
            assert seg.x == x and seg.width > 0
            x += seg.width
        assert x == COLUMNS
    assert segments[0].first == p.first and segments[-1].last == p.last
    for before, after in zip(segments, segments[1:], strict=False):
        assert after.first == before.last + 1


def assert_safe(svg: str) -> None:
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert "style=" not in svg and "<script" not in svg.lower() and "<style" not in svg
    for element in root.iter():
        assert not any(name.lower().startswith("on") for name in element.attrib)
        assert not element.tag.endswith(("image", "foreignObject", "use"))
        href = element.get("href")
        assert href is None or href.startswith("/")
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


# -- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: pool("10.0.0.0/8"),
    lambda: carve(pool("10.0.0.0/16"), "10.0.0.0/20", "10.0.64.0/18", "10.0.17.0/24"),
    lambda: acquire(pool("10.1.0.0/16"), *range(int(ipaddress.ip_address("10.1.3.0")),
                                                  int(ipaddress.ip_address("10.1.9.0")), 3)),
    lambda: acquire(pool("192.168.0.0/29"), "192.168.0.3"),
    lambda: pool("192.168.0.7/32"),
    lambda: acquire(pool("192.168.0.0/30"), "192.168.0.1", "192.168.0.2"),
    lambda: carve(pool("2001:db8::/48"), "2001:db8::/64", "2001:db8:0:8000::/50"),
    lambda: carve(pool("2001:db8::/64"), "2001:db8::/96", "2001:db8:0:0:1::/80"),
    lambda: pool("2001:db8::1/128"),
])
def test_segments_cover_every_row_once_with_consecutive_addresses(
        build: Callable[[], PrefixPool]) -> None:
    p = build()
    segments = free_space_segments(p)
    assert_tiles(p, segments)
    summary = free_space_summary(p)
    if p.children:
        assert sum(s.used for s in segments if s.kind == "child") == summary["child_addresses"]
    else:
        assert sum(s.used for s in segments if s.kind == "acquired") == p.acquired
    svg = free_space_map(p)
    assert isinstance(svg, Markup)
    assert_safe(svg)
    # the SVG draws every segment but free runs too narrow for a title (the track shows them)
    drawn = sum(int(r.get("width", "0")) for rects in shapes(parse(svg)).values() for r in rects)
    hidden = sum(s.width for s in segments
                 if s.kind == "free" and s.block is None and s.width < WIDE_FREE)
    assert drawn + hidden == len(rows_of(segments)) * COLUMNS


def test_columns_are_exact_for_ipv6_sizes() -> None:
    p = carve(pool("2001:db8::/32"), "2001:db8:8000::/33")  # the upper half: 4 rows
    segments = free_space_segments(p)
    assert [(s.row, s.kind, s.block) for s in segments] == [
        (0, "free", "2001:db8::/33"), (1, "free", "2001:db8::/33"), (2, "free", "2001:db8::/33"),
        (3, "free", "2001:db8::/33"), (4, "child", None), (5, "child", None), (6, "child", None),
        (7, "child", None)]
    assert segments[4].first == int(ipaddress.ip_address("2001:db8:8000::"))
    assert segments[4].used == 1 << (128 - 35)  # a row is an eighth of the /32


def test_tiny_prefix_gives_each_address_whole_rows() -> None:
    p = acquire(pool("10.9.9.0/30"), "10.9.9.1")
    segments = free_space_segments(p)
    assert [(s.kind, s.width, s.first & 3) for s in segments] == [
        ("reserved", 512, 0), ("acquired", 512, 1), ("free", 512, 2), ("reserved", 512, 3)]
    svg = free_space_map(p)
    labels = [t.text for t in parse(svg).iter(f"{SVG}text")]
    assert labels[:4] == ["10.9.9.0", "10.9.9.1", "10.9.9.2", "10.9.9.3"]


# -- children --------------------------------------------------------------------------------


def test_named_children_are_escaped_links_and_unnamed_ones_are_drawn_unlabelled() -> None:
    p = carve(pool("10.0.0.0/16"), "10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/29")
    odd = 'a<"&>/b'
    labels = {
        "10.0.0.0/20": (odd, "<script>alert(1)</script>"),
        "10.0.32.0/29": ("narrow", "half a column"),
        "10.0.128.0/20": ("stale", "not carved"),
        "2001:db8::/64": ("v6", "another family"),
        "10.0.300.0/20": ("bad", "not a prefix"),
        "10.0.0.0/33": ("bad", "not a length"),
    }
    svg = free_space_map(p, labels)
    assert_safe(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    root = parse(svg)
    links = list(root.iter(f"{SVG}a"))
    assert [a.get("href") for a in links] == ["/ui/networks/a%3C%22%26%3E%2Fb"]
    title = links[0].find(f"{SVG}title")
    assert title is not None and odd in (title.text or "") and "10.0.0.0/20" in (title.text or "")
    children = shapes(root)["child"]
    assert len(children) == 3  # the link, the unnamed /20, the /29's partial column
    child = [s for s in free_space_segments(p, labels) if s.kind == "child"]
    assert [(s.block, s.network_id, s.width) for s in child] == [
        ("10.0.0.0/20", odd, 256), (None, None, 256), (None, None, 1)]
    assert child[2].level == 2 and child[2].used == 8  # a /29 in a column of 16 addresses


def test_link_function_result_is_escaped() -> None:
    p = carve(pool("10.0.0.0/16"), "10.0.0.0/17")
    svg = free_space_map(p, {"10.0.0.0/17": ("x", "")}, link=lambda i: f'/n/{i}?a=1&b="2"')
    link = next(parse(svg).iter(f"{SVG}a"))
    assert link.get("href") == '/n/x?a=1&b="2"'
    assert '&amp;b=&#34;2&#34;' in svg


def test_characters_xml_forbids_are_replaced() -> None:
    p = carve(pool("10.0.0.0/16"), "10.0.0.0/17")
    svg = free_space_map(p, {"10.0.0.0/17": ("id\x01", "bell\x07 \ud800")})
    title = next(parse(svg).iter(f"{SVG}a")).find(f"{SVG}title")
    assert title is not None and "id\ufffd" in (title.text or "")


def test_largest_free_block_is_outlined_and_is_the_domains() -> None:
    p = carve(pool("10.0.0.0/16"), "10.0.0.0/18", "10.0.64.0/20", "10.0.128.0/24")
    summary = free_space_summary(p)
    domain = capacity([p])["ipv4"]
    assert domain is not None
    assert summary["largest_free"] == domain["largest_free_prefix"] == "10.0.192.0/18"
    assert summary["largest_free_addresses"] == 1 << 14
    assert summary["free_addresses"] == free_addresses(p) == int(domain["free_space"])
    assert summary["child_addresses"] == (1 << 14) + (1 << 12) + 256
    root = parse(free_space_map(p))
    outline = largest_outline(root)
    assert outline is not None
    title = outline.find(f"{SVG}title")
    assert title is not None and "10.0.192.0/18" in (title.text or "")
    rects = list(outline.iter(f"{SVG}rect"))
    assert [(r.get("x"), r.get("width")) for r in rects] == [("0", "512"), ("0", "512")]
    assert [int(r.get("y", "0")) for r in rects] == [6 * 34 + 10, 7 * 34 + 10]
    assert outline.find(f"{SVG}path") is not None  # the marker above it
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Largest free block: 10.0.192.0/18" in (desc.text or "")


def test_largest_free_block_smaller_than_a_column_still_shows() -> None:
    p = pool("10.0.0.0/8")
    for cidr in ["10.0.0.0/9", "10.128.0.0/10", "10.192.0.0/11", "10.224.0.0/12",
                 "10.240.0.0/13", "10.248.0.0/14", "10.252.0.0/15", "10.254.0.0/16",
                 "10.255.0.0/17", "10.255.128.0/18", "10.255.192.0/19", "10.255.224.0/20",
                 "10.255.240.0/21", "10.255.248.0/22", "10.255.252.0/23", "10.255.254.0/24"]:
        p = carve(p, cidr)
    assert [b[1] for b in p.free] == [24]
    summary = free_space_summary(p)
    assert summary["largest_free"] == "10.255.255.0/24"
    outline = largest_outline(parse(free_space_map(p)))
    assert outline is not None
    rect = next(outline.iter(f"{SVG}rect"))
    assert (rect.get("x"), rect.get("width")) == ("509", "3")  # the last column, widened


def test_ipv6_48_with_a_thousand_64s() -> None:
    p, carved = best_fit(pool("2001:db8:1::/48"), 64, 1000)
    labels = {cidr: (f"net-{i}", "") for i, cidr in enumerate(carved)}
    summary = free_space_summary(p)
    assert summary["child_prefixes"] == 1000
    assert summary["child_addresses"] == 1000 << 64
    assert summary["free_addresses"] == (1 << 80) - (1000 << 64) == free_addresses(p)
    assert summary["largest_free"] == "2001:db8:1:8000::/49"
    svg = free_space_map(p, labels)
    assert_safe(svg)
    assert len(svg) < 12_000
    assert_tiles(p, free_space_segments(p, labels))
    root = parse(svg)
    assert [t.text for t in root.iter(f"{SVG}text")][:2] == ["2001:db8:1::", "2001:db8:1:2000::"]
    assert list(root.iter(f"{SVG}a")) == []  # a /64 is 1/16 of a column here
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert "1,000 child prefixes cover 1,000 × 2^64 addresses" in (desc.text or "")


def test_ipv6_64_with_96_children_links_the_wide_ones() -> None:
    p, carved = best_fit(pool("2001:db8:0:1::/64"), 96, 300)
    p = carve(p, "2001:db8:0:1:8000::/66")  # a wide one: a quarter of the map, 2 rows
    carved.append("2001:db8:0:1:8000::/66")
    labels = {cidr: (f"n{i}", f"name {i}") for i, cidr in enumerate(carved)}
    segments = free_space_segments(p, labels)
    assert_tiles(p, segments)
    wide = [s for s in segments if s.network_id is not None]
    assert [(s.row, s.block, s.x, s.width) for s in wide] == [
        (4, "2001:db8:0:1:8000::/66", 0, 512), (5, "2001:db8:0:1:8000::/66", 0, 512)]
    svg = free_space_map(p, labels)
    links = [a.get("href") for a in parse(svg).iter(f"{SVG}a")]
    assert links == [f"/ui/networks/n{len(carved) - 1}"] * 2  # one per row
    assert free_space_summary(p)["free_addresses"] == free_addresses(p)


def test_ipv4_8_with_ten_thousand_24s_gives_a_small_svg() -> None:
    p, carved = best_fit(pool("10.0.0.0/8"), 24, 10_000)
    labels = {cidr: (f"net-{i}", f"name {i}") for i, cidr in enumerate(carved)}
    svg = free_space_map(p, labels)
    assert_safe(svg)
    assert len(svg.encode()) < 8_000
    segments = free_space_segments(p, labels)
    assert_tiles(p, segments)
    assert sum(s.used for s in segments if s.kind == "child") == 10_000 * 256
    assert free_space_summary(p)["largest_free"] == "10.128.0.0/9"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=17, max_value=28), max_size=40))
def test_any_carving_tiles_and_agrees_with_the_domain(lengths: list[int]) -> None:
    p = pool("10.8.0.0/16")
    for length in lengths:
        start = p.best_fit(length)
        if start is not None:
            p = p.with_child(start, length)
    segments = free_space_segments(p)
    assert_tiles(p, segments)
    summary = free_space_summary(p)
    assert sum(s.used for s in segments if s.kind == "child") == summary["child_addresses"]
    assert summary["free_addresses"] == free_addresses(p)
    domain = capacity([p])["ipv4"]
    assert domain is not None and summary["largest_free"] == domain["largest_free_prefix"]
    assert (largest_outline(parse(free_space_map(p))) is None) == (summary["largest_free"] is None)


def test_scattered_children_stay_within_one_shape_per_column() -> None:
    p = pool("10.0.0.0/16")
    for i in random.Random(5).sample(range(4096), 700):  # /28s here and there
        p = carve(p, str(ipaddress.ip_network((int(p.network.network_address) + i * 16, 28))))
    segments = free_space_segments(p)
    assert_tiles(p, segments)
    svg = free_space_map(p)
    drawn = sum(len(r) for r in shapes(parse(svg)).values())
    assert drawn <= 8 * COLUMNS and len(svg) < 8 * COLUMNS * 120
    assert free_space_summary(p)["free_addresses"] == free_addresses(p)


# -- a prefix without children ---------------------------------------------------------------


def test_acquired_addresses_are_drawn_as_column_density() -> None:
    p = pool("10.2.0.0/16")  # 16 addresses a column
    half = range(int(ipaddress.ip_address("10.2.1.0")), int(ipaddress.ip_address("10.2.2.0")), 2)
    full = range(int(ipaddress.ip_address("10.2.4.0")), int(ipaddress.ip_address("10.2.4.32")))
    p = acquire(p, *half, *full, "10.2.8.7")
    segments = free_space_segments(p)
    assert_tiles(p, segments)
    used = [(s.x, s.width, s.level, s.used) for s in segments if s.kind == "acquired"]
    assert used == [(16, 16, 2, 128), (64, 2, LEVELS, 32), (128, 1, 1, 1)]
    rects = shapes(parse(free_space_map(p)))["acquired"]
    assert [(r.get("x"), r.get("height")) for r in rects] == [
        ("16", str(BAR // 2)), ("64", str(BAR)), ("128", str(BAR // 4))]
    title = rects[0].find(f"{SVG}title")
    assert title is not None
    assert title.text == "10.2.1.0 – 10.2.1.255: 128 of 256 addresses acquired (50%)"
    summary = free_space_summary(p)
    assert summary["acquired"] == 128 + 32 + 1
    assert summary["free_addresses"] == 65536 - 2 - 161 == free_addresses(p)
    domain = capacity([p])["ipv4"]
    assert domain is not None and summary["largest_free"] is domain["largest_free_prefix"] is None
    assert summary["largest_unheld"] == "10.2.128.0/17"
    outline = largest_outline(parse(free_space_map(p)))
    assert outline is not None
    title = outline.find(f"{SVG}title")
    assert title is not None and "no acquired IP: 10.2.128.0/17" in (title.text or "")


def brute_largest_unheld(p: PrefixPool) -> str | None:
    taken = {a for s, e in p.used.ranges() for a in range(s, e + 1)} - {p.first, p.last}
    for length in range(p.network.prefixlen, 33):
        for net in p.network.subnets(new_prefix=length):
            first = int(net.network_address)
            if not any(first <= a < first + net.num_addresses for a in taken):
                return str(net)
    return None


@pytest.mark.parametrize("seed", range(6))
def test_largest_unheld_block_matches_a_brute_force_search(seed: int) -> None:
    rng = random.Random(seed)
    p = pool("10.3.0.0/24")
    for address in rng.sample(range(p.first + 1, p.last), rng.randint(1, 200)):
        p = p.with_address(address)
    assert free_space_summary(p)["largest_unheld"] == brute_largest_unheld(p)


def test_fragmented_leaf_renders_a_few_shapes() -> None:
    network = ipaddress.ip_network("10.4.0.0/16")
    base = int(network.network_address)
    # every other address taken: built in one go, one acquisition at a time takes seconds
    used = IntRanges(((base, base), (base + 65535, base + 65535),
                      *((base + i, base + i) for i in range(1, 65535, 2))))
    p = PrefixPool(str(network), used, ((base, 16),), 0, network)
    assert p.acquired == 32767
    svg = free_space_map(p)
    assert_safe(svg)
    assert len(svg) < 6_000
    segments = free_space_segments(p)
    assert_tiles(p, segments)
    # every column half used, but the last: its last address is reserved, not acquired
    assert [(s.level, s.width) for s in segments if s.row < 7] == [(2, COLUMNS)] * 7
    assert [(s.level, s.width) for s in segments if s.row == 7] == [(2, COLUMNS - 1), (1, 1)]
    summary = free_space_summary(p)
    # the reserved last address does not count: a block holds it whatever it is used for
    assert summary["largest_unheld"] == "10.4.255.254/31"
    assert summary["free_addresses"] == 32767 == free_addresses(p)


# -- edges -----------------------------------------------------------------------------------


def test_empty_prefix_is_one_free_block_and_the_largest() -> None:
    p = pool("10.5.0.0/16")
    segments = free_space_segments(p)
    assert {(s.kind, s.block, s.level) for s in segments} == {("free", "10.5.0.0/16", 0)}
    summary = free_space_summary(p)
    assert summary["largest_free"] == summary["largest_unheld"] == "10.5.0.0/16"
    assert summary["free_addresses"] == 65534
    root = parse(free_space_map(p))
    outline = largest_outline(root)
    assert outline is not None and len(list(outline.iter(f"{SVG}rect"))) == 8
    assert shapes(root)["child"] == shapes(root)["acquired"] == []


def test_full_prefix_has_no_free_block_and_no_outline() -> None:
    p = carve(pool("10.6.0.0/24"), "10.6.0.0/25", "10.6.0.128/25")
    summary = free_space_summary(p)
    assert (summary["largest_free"], summary["free_addresses"], summary["child_addresses"]) == (
        None, 0, 256)
    root = parse(free_space_map(p))
    assert largest_outline(root) is None
    assert shapes(root)["free"] == []
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "No free block for a child prefix." in (desc.text or "")
    full = acquire(pool("10.7.0.0/30"), "10.7.0.1", "10.7.0.2")
    assert free_space_summary(full)["free_addresses"] == 0
    assert [s.kind for s in free_space_segments(full)] == [
        "reserved", "acquired", "acquired", "reserved"]


def test_maps_on_one_page_have_distinct_ids() -> None:
    ids = []
    for p in (pool("10.0.0.0/16"), pool("2001:db8::/48")):
        ids += [e.get("id") for e in parse(free_space_map(p)).iter() if e.get("id")]
    assert len(ids) == len(set(ids)) == 6
    assert all(re.fullmatch(r"fm-[0-9a-z-]+", i or "") for i in ids)


def test_kinds_differ_by_more_than_colour() -> None:
    p = acquire(carve(pool("10.0.0.0/16"), "10.0.0.0/17"))
    root = parse(free_space_map(p, {"10.0.0.0/17": ("c", "")}))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "fm-child")
    assert [(g.get("fill") or "").startswith("url(#") for g in group] == [True]  # hatched
    assert next(root.iter(f"{SVG}a")).find(f"{SVG}text") is not None  # labelled
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert {"child prefix", "free", "largest free block"} <= set(legend)
    assert any((t or "").startswith("1 column = /28 (16 addresses)") for t in legend)
