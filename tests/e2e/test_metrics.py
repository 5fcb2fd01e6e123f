"""`GET /metrics`: every family moves as it should after real requests, through HTTP, on SQLite
and PostgreSQL; a server of several processes adds up all of their counts.

The counters are the process's (prometheus-client's), shared by every app a test process
builds: the tests compare a scrape before with one after, never absolute counts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from application.context import RequestContext
from infrastructure.settings import Settings
from infrastructure.store import Ipam, open_ipam
from tests.live import BIN, admin_token, bearer, free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (sample, labels) in samples if sample == name]


def scrape(client: Any, headers: dict[str, str] | None = None) -> Samples:
    answer = client.get("/metrics", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def issue(ipam: Ipam, role: str = "viewer", **options: Any) -> str:
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="metrics",
                                  role=role, **options)
    return secret


def network_with_ips(client: TestClient, prefix: str, count: int) -> str:
    """A new network of project p with `count` addresses acquired through HTTP; its id."""
    network = unique("net")
    assert client.put("/v1/network", json={"id": network, "prefixes": [prefix],
                                           "projectid": "p"}).status_code == 201
    for _ in range(count):
        assert client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"}
                           ).status_code == 201
    return network


# -- access ---------------------------------------------------------------------------------------


def test_metrics_need_a_token_of_any_role_and_speak_prometheus_text(client: TestClient,
                                                                    ipam: Ipam) -> None:
    refused = client.get("/metrics", headers={"Authorization": ""})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="ipam"'
    assert client.get("/metrics", headers=bearer("ipam_" + "x" * 43)).status_code == 401

    for role in ("editor", "admin"):
        assert client.get("/metrics", headers=bearer(issue(ipam, role))).status_code == 200
    answer = client.get("/metrics", headers=bearer(issue(ipam, "viewer")))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"ipam_http_requests", "ipam_http_request_duration_seconds", "ipam_ip_acquisitions",
            "ipam_ip_releases", "ipam_child_allocations", "ipam_allocation_failures",
            "ipam_auth_failures", "ipam_event_log_head", "ipam_projection_lag_events",
            "ipam_store_up"} <= names
    assert "_created" not in answer.text


# -- HTTP ---------------------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_route_template_never_by_path(
        client: TestClient) -> None:
    missing = unique("missing")
    before = scrape(client)
    assert client.get(f"/v1/network/{missing}").status_code == 404
    assert client.get(f"/v1/network/{missing}/").status_code == 404  # the same route
    assert client.put("/v1/network", json={"id": unique("n"), "prefixes": ["10.9.0.0/24"]}
                      ).status_code == 201
    assert client.get(f"/nowhere/{missing}").status_code == 404
    answer = client.get("/metrics")
    after = parse(answer.text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "GET", "route": "/v1/network/{id}"}
    assert moved("ipam_http_requests_total", **route, status="404") == 2
    assert moved("ipam_http_requests_total", method="PUT", route="/v1/network", status="201") == 1
    assert moved("ipam_http_requests_total", method="GET", route="(no route)", status="404") == 1
    assert moved("ipam_http_request_duration_seconds_count", **route) == 2
    assert moved("ipam_http_request_duration_seconds_bucket", **route, le="+Inf") == 2
    assert moved("ipam_http_request_duration_seconds_bucket", **route, le="10.0") == 2
    assert moved("ipam_http_request_duration_seconds_sum", **route) > 0
    assert missing not in answer.text  # templates only
    routes = {labels["route"] for labels in series(after, "ipam_http_requests_total")}
    assert all(r.startswith("/") or r == "(no route)" for r in routes)


def test_a_server_error_is_counted_as_5xx(ipam: Ipam, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = bearer(issue(ipam, "admin"))
    with TestClient(create_app(ipam, follow=False), headers=headers,
                    raise_server_exceptions=False) as client:
        before = scrape(client)

        def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("the disk is on fire")

        monkeypatch.setattr(ipam.app, "list_networks", broken)
        assert client.get("/v1/network").status_code == 500
        monkeypatch.undo()
        after = scrape(client)
    labels = {"method": "GET", "route": "/v1/network", "status": "500"}
    assert value(after, "ipam_http_requests_total", **labels) \
        - value(before, "ipam_http_requests_total", **labels) == 1


def test_a_request_cancelled_before_its_answer_is_not_counted_as_an_error() -> None:
    """A shutdown cancels what has not been answered: no status was sent, and a 500 counted for
    it would set off the 5xx alert. An exception is a 500 (Starlette answers it so)."""
    import asyncio

    from prometheus_client import generate_latest

    from api.metrics import RequestMetrics
    from infrastructure.metrics import REGISTRY

    async def cancelled(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def sent(message: Any) -> None:
        pass

    def errors() -> float:  # no FastAPI app given: every path is "(no route)"
        return float(value(parse(generate_latest(REGISTRY).decode()), "ipam_http_requests_total",
                           method="GET", route="(no route)", status="500"))

    scope = {"type": "http", "method": "GET", "path": "/v1/network", "headers": []}
    for app, counted in ((cancelled, 0), (failing, 1)):
        before = errors()
        with pytest.raises((asyncio.CancelledError, RuntimeError)):
            asyncio.run(RequestMetrics(app, None)(dict(scope), None, sent))  # type: ignore[arg-type]
        assert errors() - before == counted


# -- allocations ----------------------------------------------------------------------------------


def test_acquisitions_releases_and_refusals_are_counted_per_family_when_committed(
        client: TestClient) -> None:
    network = unique("net")
    assert client.put("/v1/network", json={
        "id": network, "prefixes": ["10.20.0.0/30", "2001:db8:20::/120"], "projectid": "p"},
    ).status_code == 201
    before = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(now, name, **labels) - value(before, name, **labels)

    once = {"Idempotency-Key": unique("key")}
    first = client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"},
                        headers=once)
    again = client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"},
                        headers=once)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()  # replayed: nothing new committed
    v6 = client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p",
                                              "addressfamily": "IPv6"})
    assert v6.status_code == 201
    now = scrape(client)
    assert moved("ipam_ip_acquisitions_total", family="ipv4") == 1
    assert moved("ipam_ip_acquisitions_total", family="ipv6") == 1

    taken = first.json()["ipaddress"]
    assert client.post(f"/v1/ip/allocate/{taken}", json={"networkid": network, "projectid": "p"}
                       ).status_code == 409
    assert client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"}
                       ).status_code == 201  # the /30's second and last address
    assert client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"}
                       ).status_code == 422
    assert client.post("/v1/ip/allocate", json={"networkid": unique("gone"), "projectid": "p"}
                       ).status_code == 404
    assert client.delete(f"/v1/ip/free/{v6.json()['ipaddress']}").status_code == 200
    now = scrape(client)
    assert moved("ipam_ip_acquisitions_total", family="ipv4") == 2
    assert moved("ipam_ip_acquisitions_total", family="ipv6") == 1
    assert moved("ipam_allocation_failures_total", reason="conflict") == 1
    assert moved("ipam_allocation_failures_total", reason="exhausted") == 1
    assert moved("ipam_allocation_failures_total", reason="not_found") == 1
    assert moved("ipam_ip_releases_total", family="ipv6") == 1
    assert moved("ipam_ip_releases_total", family="ipv4") == 0


def super_network(client: TestClient, partition: str, **extra: Any) -> str:
    network = unique("super")
    body = {"id": network, "partitionid": partition, "privatesuper": True,
            "prefixes": ["10.64.0.0/16", "2001:db8:64::/48"],
            "defaultchildprefixlength": {"IPv4": 22, "IPv6": 64}, **extra}
    answer = client.put("/v1/network", json=body)
    assert answer.status_code == 201, answer.text
    return network


def test_child_allocations_and_each_super_networks_figures_per_family(
        client: TestClient) -> None:
    partition = unique("part")
    network = super_network(client, partition)
    before = scrape(client)
    for family, total, free in (("ipv4", 2 ** 16, 2 ** 6), ("ipv6", 2 ** 80, 2 ** 16)):
        assert value(before, "ipam_network_total_addresses", network=network, family=family) \
            == float(total)
        assert value(before, "ipam_network_free_child_prefixes", network=network,
                     family=family) == float(free)
    assert value(before, "ipam_network_info", network=network, partition=partition) == 1
    used_before = {family: value(before, "ipam_network_used_addresses", network=network,
                                 family=family) for family in ("ipv4", "ipv6")}

    dual = client.post("/v1/network/allocate", json={"partitionid": partition, "projectid": "p"})
    assert dual.status_code == 201, dual.text
    only_v6 = client.post("/v1/network/allocate", json={
        "partitionid": partition, "projectid": "p", "addressfamily": "IPv6"})
    assert only_v6.status_code == 201, only_v6.text
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ipam_child_allocations_total", family="ipv4") == 1
    assert moved("ipam_child_allocations_total", family="ipv6") == 2
    # used: in children, acquired or reserved (go-ipam reserves each prefix's first address,
    # and IPv4's last); the first child begins at the super's first address
    assert used_before == {"ipv4": 2.0, "ipv6": 1.0}
    assert value(after, "ipam_network_used_addresses", network=network, family="ipv4") \
        == 2 ** 10 + 1
    assert value(after, "ipam_network_used_addresses", network=network, family="ipv6") \
        == float(2 * 2 ** 64)
    assert moved("ipam_network_free_child_prefixes", network=network, family="ipv4") == -1
    assert moved("ipam_network_free_child_prefixes", network=network, family="ipv6") == -2

    # the figures are the network's own, as GET shows them
    shown = client.get(f"/v1/network/{network}").json()
    for family in ("ipv4", "ipv6"):
        capacity = shown["capacity"][family]
        assert value(after, "ipam_network_used_addresses", network=network, family=family) \
            == float(int(capacity["total_ips"]) - int(capacity["free_space"]))

    assert client.delete(f"/v1/network/free/{dual.json()['id']}").status_code == 200
    freed = scrape(client)
    assert value(freed, "ipam_network_used_addresses", network=network, family="ipv4") \
        == used_before["ipv4"]

    # a child that cannot be carved is a refusal, and nothing is counted as allocated
    small = unique("part")
    super_network(client, small, prefixes=["10.65.0.0/23"], defaultchildprefixlength={"IPv4": 24})
    for _ in range(2):
        assert client.post("/v1/network/allocate", json={"partitionid": small, "projectid": "p"}
                           ).status_code == 201
    assert client.post("/v1/network/allocate", json={"partitionid": small, "projectid": "p"}
                       ).status_code == 422
    last = scrape(client)
    assert value(last, "ipam_allocation_failures_total", reason="exhausted") \
        - value(freed, "ipam_allocation_failures_total", reason="exhausted") == 1
    assert value(last, "ipam_child_allocations_total", family="ipv4") \
        - value(freed, "ipam_child_allocations_total", family="ipv4") == 2


def test_network_series_are_bounded_and_follow_the_tokens_projects(db_url: str) -> None:
    ipam = open_ipam(db_url, metrics_max_networks=3)
    try:
        with TestClient(create_app(ipam, follow=False), headers=bearer(issue(ipam, "admin"))
                        ) as client:
            for name, prefixes in (("a", ["10.1.0.0/16", "2001:db8:1::/48"]),
                                   ("b", ["10.2.0.0/16", "2001:db8:2::/48"]),
                                   ("c", ["10.3.0.0/16", "2001:db8:3::/48"]),
                                   ("d", ["10.4.0.0/16"])):
                lengths = {"IPv4": 22, "IPv6": 64} if len(prefixes) == 2 else {"IPv4": 22}
                assert client.put("/v1/network", json={
                    "id": name, "partitionid": f"p-{name}", "privatesuper": True,
                    "prefixes": prefixes, "defaultchildprefixlength": lengths}).status_code == 201
            samples = scrape(client)
            # the first in id order while their series fit: a (2 series); b would pass 3
            shown = {labels["network"] for labels in series(samples, "ipam_network_info")}
            assert shown == {"a"}
            for name in ("ipam_network_total_addresses", "ipam_network_used_addresses",
                         "ipam_network_free_child_prefixes"):
                assert len(series(samples, name)) == 2
            assert value(samples, "ipam_metrics_networks_omitted") == 3

            assert client.put("/v1/network", json={
                "id": "0-theirs", "partitionid": "p-theirs", "privatesuper": True,
                "projectid": "theirs", "prefixes": ["10.5.0.0/16"],
                "defaultchildprefixlength": {"IPv4": 22}}).status_code == 201
            everyone = scrape(client)
            assert {labels["network"] for labels in series(everyone, "ipam_network_info")} \
                == {"0-theirs", "a"}  # 1 + 2 series
            ours = scrape(client, bearer(issue(ipam, "viewer", projects=["ours"])))
            assert "0-theirs" not in {labels["network"]
                                      for labels in series(ours, "ipam_network_info")}
            assert "a" in {labels["network"] for labels in series(ours, "ipam_network_info")}
    finally:
        ipam.close()


def test_a_token_bound_to_projects_sees_its_super_networks_within_the_bound(
        db_url: str) -> None:
    ipam = open_ipam(db_url, metrics_max_networks=3)
    try:
        with TestClient(create_app(ipam, follow=False), headers=bearer(issue(ipam, "admin"))
                        ) as client:
            for name, project, prefix in (("0-t1", "theirs", "10.1.0.0/16"),
                                          ("0-t2", "theirs", "10.2.0.0/16"),
                                          ("0-t3", "theirs", "10.3.0.0/16"),
                                          ("m-ours", "ours", "10.4.0.0/16"),
                                          ("n", "", "10.5.0.0/16")):
                assert client.put("/v1/network", json={
                    "id": name, "partitionid": f"p-{name}", "privatesuper": True,
                    "projectid": project, "prefixes": [prefix],
                    "defaultchildprefixlength": {"IPv4": 22}}).status_code == 201
            everyone = scrape(client)
            ours = scrape(client, bearer(issue(ipam, "viewer", projects=["ours"])))
        assert {labels["network"] for labels in series(everyone, "ipam_network_info")} \
            == {"0-t1", "0-t2", "0-t3"}
        assert value(everyone, "ipam_metrics_networks_omitted") == 2
        # the bound applies to what the token sees: its own and the project-less ones
        assert {labels["network"] for labels in series(ours, "ipam_network_info")} \
            == {"m-ours", "n"}
        assert value(ours, "ipam_metrics_networks_omitted") == 0
    finally:
        ipam.close()


def test_the_bound_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPAM_METRICS_MAX_NETWORKS", "7")
    assert Settings.from_env("sqlite:///x.db").metrics_max_networks == 7
    monkeypatch.delenv("IPAM_METRICS_MAX_NETWORKS")
    assert Settings.from_env("sqlite:///x.db").metrics_max_networks == 500
    for wrong in ("-1", "many", "1.5"):
        monkeypatch.setenv("IPAM_METRICS_MAX_NETWORKS", wrong)
        with pytest.raises(ValueError, match="IPAM_METRICS_MAX_NETWORKS"):
            Settings.from_env("sqlite:///x.db")


# -- the log and the projections ----------------------------------------------------------------


def test_event_log_head_and_projection_lag(client: TestClient, ipam: Ipam) -> None:
    ipam.catch_up()
    before = scrape(client)
    head = ipam.app.recorder.max_notification_id() or 0
    assert value(before, "ipam_event_log_head") == head
    for projection in ipam.projectors:
        assert value(before, "ipam_projection_lag_events", projection=projection) == 0

    network_with_ips(client, "10.30.0.0/24", 3)
    after = scrape(client)  # no follower here: the history and chain are behind
    new_head = ipam.app.recorder.max_notification_id() or 0
    assert new_head > head
    assert value(after, "ipam_event_log_head") == new_head
    for projection in ("history", "chain"):
        status = ipam.projectors[projection].status()
        assert status.lag > 0
        assert value(after, "ipam_projection_lag_events", projection=projection) == status.lag
    ipam.catch_up()
    caught_up = scrape(client)
    for projection in ipam.projectors:
        assert value(caught_up, "ipam_projection_lag_events", projection=projection) == 0


def test_a_scrape_says_what_it_could_not_read_and_keeps_the_rest(
        client: TestClient, ipam: Ipam, monkeypatch: pytest.MonkeyPatch) -> None:
    super_network(client, unique("part"))
    healthy = scrape(client)
    assert value(healthy, "ipam_store_up") == value(healthy, "ipam_network_figures_up") == 1

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a projection cannot apply an event")

    monkeypatch.setattr(ipam.read_model, "private_supers", broken)
    figures_down = scrape(client)
    assert value(figures_down, "ipam_store_up") == 1
    assert value(figures_down, "ipam_network_figures_up") == 0
    assert not series(figures_down, "ipam_network_used_addresses")
    assert series(figures_down, "ipam_projection_lag_events")  # still there: the lag tells
    assert value(figures_down, "ipam_event_log_head") == ipam.app.recorder.max_notification_id()

    for projector in ipam.projectors.values():
        monkeypatch.setattr(projector, "status", broken)
    store_down = scrape(client)
    assert value(store_down, "ipam_store_up") == 0
    assert not series(store_down, "ipam_projection_lag_events")
    assert series(store_down, "ipam_http_requests_total")  # this process's counts still


class Interrupted(Exception):
    pass


def test_rebuild_progress_is_shown_while_a_rebuild_is_under_way(client: TestClient,
                                                                ipam: Ipam) -> None:
    network_with_ips(client, "10.40.0.0/24", 12)
    projector = ipam.projectors["history"]
    projector.rebuild_batch_size = 5
    assert not series(scrape(client), "ipam_projection_rebuild_progress")

    def interrupt(position: int, head: int) -> None:
        if position >= 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        projector.rebuild(progress=interrupt)
    status = projector.status()
    assert status.rebuild_position is not None
    during = scrape(client)
    assert series(during, "ipam_projection_rebuild_progress") == [{"projection": "history"}]
    shown = value(during, "ipam_projection_rebuild_progress", projection="history")
    assert shown == pytest.approx(status.rebuild_position / status.head)
    assert 0 < shown < 1

    projector.rebuild()  # resumed and finished
    assert not series(scrape(client), "ipam_projection_rebuild_progress")


# -- authentication -------------------------------------------------------------------------------


def test_authentication_failures_are_counted_by_reason(client: TestClient, ipam: Ipam) -> None:
    info, revoked = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="gone",
                                      role="viewer")
    ipam.tokens.revoke(info.token_id, context=RequestContext.new(actor="tests"))
    expired = issue(ipam, "viewer", expires_in=timedelta(microseconds=1))
    time.sleep(0.01)
    before = scrape(client)
    tries = {
        "missing": {"Authorization": ""},
        "invalid": bearer("ipam_" + "x" * 43),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
        "hmac_not_configured": {"Authorization": "Metal-View 00"},
    }
    for headers in tries.values():
        assert client.get("/v1/network", headers=headers).status_code == 401
    signed_in = client.post("/ui/signin", data={"token": "ipam_" + "y" * 43},
                            headers={"Authorization": ""})
    assert signed_in.status_code == 401
    assert "Not signed in: invalid token." in signed_in.text
    after = scrape(client)
    for reason in tries:
        expected = 2 if reason == "invalid" else 1  # the console's sign-in too
        assert value(after, "ipam_auth_failures_total", reason=reason) \
            - value(before, "ipam_auth_failures_total", reason=reason) == expected, reason


def test_hmac_failures_are_counted_by_reason(ipam: Ipam,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    monkeypatch.setenv("IPAM_HMAC_VIEW_KEY", "view-key-of-the-test")
    with TestClient(create_app(ipam, follow=False)) as client:
        before = scrape(client, bearer(issue(ipam)))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stale = "2020-01-01T00:00:00Z"
        tries = {
            "hmac_date": [{"Authorization": "Metal-View 00", "X-Date": stale},
                          {"Authorization": "Metal-View 00"}],
            "hmac_invalid": [{"Authorization": "Metal-View 00", "X-Date": now}],
        }
        for headers in (h for each in tries.values() for h in each):
            assert client.get("/v1/network", headers=headers).status_code == 401
        after = scrape(client, bearer(issue(ipam)))
    for reason, sent in tries.items():
        assert value(after, "ipam_auth_failures_total", reason=reason) \
            - value(before, "ipam_auth_failures_total", reason=reason) == len(sent), reason


# -- the alert rules ---------------------------------------------------------------------------


def test_the_example_alert_rules_use_only_metrics_the_service_exposes(client: TestClient) -> None:
    rules = yaml.safe_load((ROOT / "docs" / "prometheus-alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert alerts, "no alert rules"
    answer = client.get("/metrics").text
    exposed = {sample for sample, _ in parse(answer)} | {
        family.name for family in text_string_to_metric_families(answer)}
    for name, rule in alerts.items():
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, name
        assert rule["labels"].get("severity") in ("warning", "critical"), name
        used = set(re.findall(r"\bipam_[a-z_]+", rule["expr"]))
        assert used and used <= exposed, (name, used - exposed)
    exprs = " ".join(rule["expr"] for rule in alerts.values())
    assert "ipam_network_used_addresses" in exprs and "0.9" in exprs
    assert "ipam_projection_lag_events" in exprs and "1000" in exprs
    assert re.search(r'status=~"5\.\."', exprs)
    lag = next(r for r in alerts.values() if "ipam_projection_lag_events" in r["expr"])
    assert lag["for"] == "5m"


def test_the_example_alert_rules_pass_promtools_check_and_unit_tests() -> None:
    """promtool (Debian's prometheus package; required when IPAM_REQUIRE_PROMTOOL=1, as in CI)
    checks the rules and runs tests/prometheus/alerts-test.yml: each alert fires on the series
    it is for, after its `for`, with its labels and text, and not before or after."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("IPAM_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (IPAM_REQUIRE_PROMTOOL=1) but not installed")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    checked = subprocess.run([promtool, "check", "rules", "docs/prometheus-alerts.yml"],
                             cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    tested = subprocess.run([promtool, "test", "rules", "alerts-test.yml"],
                            cwd=ROOT / "tests" / "prometheus", capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


# -- several server processes ------------------------------------------------------------------


@pytest.fixture
def two_workers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`ipam serve --workers 2` on PostgreSQL, counting into a directory of the test's own
    (holding a stale file of an earlier run, which the server must remove)."""
    from tests.conftest import reset_postgres

    reset_postgres(postgres_url)
    token = admin_token(postgres_url)
    counts = tmp_path / "counts"
    counts.mkdir()
    (counts / "counter_1.db").write_bytes(b"stale")
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "IPAM_DATABASE_URL": postgres_url,
           "PROMETHEUS_MULTIPROC_DIR": str(counts)}
    process = subprocess.Popen(
        [str(BIN / "ipam"), "serve", "--port", str(port), "--workers", "2",
         "--log-level", "warning"], cwd=tmp_path, env=env, start_new_session=True,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        yield url, token, counts
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        stop(process)


@pytest.mark.postgres
def test_a_scrape_of_any_worker_shows_the_whole_service(
        two_workers: tuple[str, str, Path]) -> None:
    url, token, counts = two_workers
    assert not (counts / "counter_1.db").exists()
    headers = bearer(token)
    network = unique("net")
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        assert client.put("/v1/network", json={"id": network, "prefixes": ["10.50.0.0/22"],
                                               "projectid": "p"}).status_code == 201
    # a connection each, until both processes took some (the kernel spreads connections)
    acquisitions = 0
    while min(acquired_by_process(counts).values(), default=0) == 0 or acquisitions < 20:
        assert acquisitions < 500, acquired_by_process(counts)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            assert client.post("/v1/ip/allocate", json={"networkid": network, "projectid": "p"}
                               ).status_code == 201
        acquisitions += 1
    by_process = acquired_by_process(counts)
    assert len(by_process) == 2 and sum(by_process.values()) == acquisitions, by_process
    for _ in range(6):  # whichever process answers the scrape, it shows both
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            samples = scrape(client)
        assert value(samples, "ipam_ip_acquisitions_total", family="ipv4") == acquisitions
        assert value(samples, "ipam_http_requests_total", method="POST",
                     route="/v1/ip/allocate", status="201") == acquisitions


def acquired_by_process(counts: Path) -> dict[str, float]:
    """Each server process's own count of IPv4 acquisitions, from its file of counts."""
    from prometheus_client.multiprocess import MultiProcessCollector

    found: dict[str, float] = {}
    for path in counts.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=False):  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == "ipam_ip_acquisitions_total" \
                        and sample.labels.get("family") == "ipv4":
                    found[path.stem.rsplit("_", 1)[1]] = sample.value
    return found
