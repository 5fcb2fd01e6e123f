"""What the console's pages show, shaped from documents: times asked with `?at=`, usage in
units a person reads, the search box, an event's facts."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from api.console import views
from domain.allocation import PrefixPool
from domain.consumption import capacity
from domain.errors import InvalidRequestError


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-03T12:00:00Z", datetime(2026, 3, 3, 12, tzinfo=UTC)),
    ("2026-03-03T13:00:00+01:00", datetime(2026, 3, 3, 12, tzinfo=UTC)),
    ("2026-03-03T12:00", datetime(2026, 3, 3, 12, tzinfo=UTC)),  # a date-time picker: UTC
    ("2026-03-03T12:00:30", datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC)),
    ("2026-03-03", datetime(2026, 3, 3, tzinfo=UTC)),
])
def test_moments_a_page_takes(text: str, expected: datetime) -> None:
    assert views.moment(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "12:00", "1700000000"])
def test_other_moments_are_refused_with_the_forms(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="RFC 3339"):
        views.moment(text)


def test_no_moment_is_now() -> None:
    assert views.moment(None) is None and views.moment("  ") is None


def pools(*prefixes: str) -> list[PrefixPool]:
    return [PrefixPool.new(ipaddress.ip_network(p)) for p in prefixes]


def test_a_super_counts_children_of_its_default_length_and_free_slash64s() -> None:
    made = pools("10.0.0.0/16", "2001:db8::/48")
    v4, v6 = made
    made = [v4.with_child(int(v4.network.network_address), 22), v6]
    document = {"capacity": capacity(made, {f: n for f, n in zip(
        [v4.family, v6.family], [22, 64], strict=True)})}
    usage = {u.family: u for u in views.usages(document, made)}
    assert (usage["IPv4"].used, usage["IPv4"].total) == (1, 64)
    assert "1 of 64 /22 child prefixes allocated, 63 free" in usage["IPv4"].words
    assert (usage["IPv6"].used, usage["IPv6"].total) == (0, 65536)
    assert "65,536 free /64s" in usage["IPv6"].notes


def test_a_leaf_counts_addresses_acquired_and_reserved() -> None:
    (pool,) = pools("10.1.0.0/24")
    pool = pool.with_address(int(pool.network.network_address) + 1)
    usage = views.usages({"capacity": capacity([pool])}, [pool])[0]
    assert (usage.used, usage.total, usage.level) == (3, 256, "ok")
    assert usage.words == "1 acquired, 2 reserved, of 256 addresses"


@pytest.mark.parametrize(("query", "found"), [
    ("10.0.0.7", True), ("10.9.0.7", False), ("10.0.0.0/8", True), ("2001:db8::/32", False),
    ("tenant", True), ("PROJECT-A", True), ("other", False), ("", True),
])
def test_the_search_box(query: str, found: bool) -> None:
    network = {"network_id": "tenant-net", "name": "n", "project_id": "project-a",
               "partition_id": "lab", "prefixes": ["10.0.0.0/22"]}
    assert views.matches(network, query) is found


def test_facts_print_as_json_words() -> None:
    assert views.facts_summary({"shared": False, "nat": True, "prefixes": ["a", "b"], "x": None,
                                "vrf": 0}) == [("shared", "false"), ("nat", "true"),
                                               ("prefixes", "a, b"), ("vrf", "0")]
