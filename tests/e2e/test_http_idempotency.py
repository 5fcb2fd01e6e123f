"""`Idempotency-Key` over HTTP (ASGI), on SQLite and PostgreSQL: the same key with the same
request returns the first status and body without a second change; with another request it is
a 422; keys are each caller's own; bad keys are a 400; a failed request is not remembered."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient
from sqlalchemy import text

from application.context import RequestContext
from application.ports import NetworkFilter
from domain.network import Network
from infrastructure.store import Ipam
from tests.conftest import SEED_PROJECT, SEED_SUPER
from tests.live import bearer

KEY = "3f1c0f6e-8d1a-4c7e-9b8e-2a6f5d4c3b2a"


def logged(ipam: Ipam, event_class: type) -> int:
    """How many events of this class the log holds."""
    return len(ipam.app.recorder.select_notifications(
        start=1, limit=1_000_000, topics=[get_topic(event_class)]))


def keyed(key: str = KEY, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def twice(client: TestClient, method: str, path: str, body: Any = None,
          key: str = KEY) -> tuple[Any, Any]:
    """The same request sent twice with the same key; both answers."""
    first = client.request(method, path, json=body, headers=keyed(key))
    second = client.request(method, path, json=body, headers=keyed(key))
    return first, second


def assert_error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statuscode", "message"}
    assert body["statuscode"] == status
    for word in words:
        assert word in body["message"], body


@pytest.fixture
def super_network(client: TestClient) -> dict[str, Any]:
    response = client.put("/v1/network", json=SEED_SUPER)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def child(client: TestClient, super_network: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/network/allocate",
                           json={"partitionid": "mini-lab", "projectid": SEED_PROJECT})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def acquisition(child: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"networkid": child["id"], "projectid": SEED_PROJECT, **extra}


# -- the same request twice -------------------------------------------------------------------


def test_allocate_ip_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    first, second = twice(client, "POST", "/v1/ip/allocate", acquisition(child, name="web"))
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert second.json() == first.json()
    assert first.json()["ipaddress"] == "10.0.0.1"
    assert [ip["address"] for ip in ipam.app.list_ips()] == ["10.0.0.1"]
    assert logged(ipam, Network.IPAcquired) == 1


def test_allocate_ip_without_key_allocates_each_time(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    """The control: without a key the same request is a second allocation."""
    for _ in range(2):
        assert client.post("/v1/ip/allocate", json=acquisition(child)).status_code == 201
    assert logged(ipam, Network.IPAcquired) == 2


def test_allocate_specific_ip_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    first, second = twice(client, "POST", "/v1/ip/allocate/10.0.0.7", acquisition(child))
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert logged(ipam, Network.IPAcquired) == 1


def test_allocate_network_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam, super_network: dict[str, Any],
) -> None:
    body = {"partitionid": "mini-lab", "projectid": SEED_PROJECT, "name": "tenant"}
    first, second = twice(client, "POST", "/v1/network/allocate", body)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    children = ipam.app.list_networks(NetworkFilter(parent_id=super_network["id"]))
    assert [c["network_id"] for c in children] == [first.json()["id"]]
    assert logged(ipam, Network.ChildNetworkAllocated) == 1


def test_create_network_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam,
) -> None:
    body = {"id": "n", "prefixes": ["10.9.0.0/24", "2001:db8:9::/64"], "name": "plain"}
    first, second = twice(client, "PUT", "/v1/network", body)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert logged(ipam, Network.NetworkCreated) == 1
    again = client.put("/v1/network", json=body)  # without the key: it exists
    assert_error(again, 409, "already exists")


def test_create_network_without_id_with_same_key_creates_one(
    client: TestClient, ipam: Ipam,
) -> None:
    """The id is chosen by the server: a second creation would have another one."""
    first, second = twice(client, "PUT", "/v1/network", {"prefixes": ["10.9.0.0/24"]})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json()["id"] == first.json()["id"]
    assert [n["network_id"] for n in ipam.app.list_networks()] == [first.json()["id"]]


def test_free_ip_with_same_key_returns_first_result_after_ip_is_gone(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    acquired = client.post("/v1/ip/allocate", json=acquisition(child)).json()
    first, second = twice(client, "DELETE", f"/v1/ip/free/{acquired['ipaddress']}")
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert first.json()["ipaddress"] == acquired["ipaddress"]
    assert logged(ipam, Network.IPReleased) == 1
    assert ipam.app.list_ips() == []
    gone = client.delete(f"/v1/ip/free/{acquired['ipaddress']}")  # without the key
    assert_error(gone, 404, "not found")


def test_free_network_with_same_key_returns_first_result_after_network_is_gone(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    first, second = twice(client, "DELETE", f"/v1/network/free/{child['id']}")
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert first.json()["id"] == child["id"]
    assert logged(ipam, Network.ChildNetworkReleased) == 1
    assert_error(client.get(f"/v1/network/{child['id']}"), 404, "not found")
    assert_error(client.delete(f"/v1/network/free/{child['id']}"), 404, "not found")


def test_delete_network_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam,
) -> None:
    assert client.put("/v1/network", json={"id": "n", "prefixes": ["10.9.0.0/24"]}).status_code == 201
    first, second = twice(client, "DELETE", "/v1/network/n")
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert logged(ipam, Network.NetworkDeleted) == 1


def test_update_ip_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    acquired = client.post("/v1/ip/allocate", json=acquisition(child)).json()
    body = {"ipaddress": acquired["ipaddress"], "name": "renamed", "tags": ["a=1"]}
    first, second = twice(client, "POST", "/v1/ip", body)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert first.json()["name"] == "renamed"
    assert logged(ipam, Network.IPUpdated) == 1


def test_update_ip_with_same_key_returns_first_result_after_later_change(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    """The first result, not the current state: a retry must not see a later writer's change."""
    acquired = client.post("/v1/ip/allocate", json=acquisition(child)).json()
    body = {"ipaddress": acquired["ipaddress"], "name": "mine"}
    first = client.post("/v1/ip", json=body, headers=keyed())
    assert client.post("/v1/ip", json={**body, "name": "theirs"}).status_code == 200
    second = client.post("/v1/ip", json=body, headers=keyed())
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert second.json()["name"] == "mine"
    assert ipam.app.get_ip(acquired["ipaddress"])["name"] == "theirs"


def test_update_network_with_same_key_returns_first_result_once(
    client: TestClient, ipam: Ipam, super_network: dict[str, Any],
) -> None:
    body = {"id": super_network["id"], "description": "updated"}
    first, second = twice(client, "POST", "/v1/network", body)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == first.json()
    assert logged(ipam, Network.NetworkUpdated) == 1


# -- the same key for another request ---------------------------------------------------------


def test_same_key_with_different_body_is_422(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    first = client.post("/v1/ip/allocate", json=acquisition(child, name="a"), headers=keyed())
    assert first.status_code == 201, first.text
    other = client.post("/v1/ip/allocate", json=acquisition(child, name="b"), headers=keyed())
    assert_error(other, 422, "Idempotency-Key", "different request")
    assert logged(ipam, Network.IPAcquired) == 1
    again = client.post("/v1/ip/allocate", json=acquisition(child, name="a"), headers=keyed())
    assert (again.status_code, again.json()) == (201, first.json())


def test_same_key_with_body_differing_only_in_defaults_is_same_request(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    """The fingerprint is of the request as understood: key order and spelled-out defaults do
    not make it another request."""
    first = client.post("/v1/ip/allocate", headers=keyed(),
                        json={"projectid": SEED_PROJECT, "networkid": child["id"]})
    second = client.post("/v1/ip/allocate", headers=keyed(),
                         json={"networkid": child["id"], "projectid": SEED_PROJECT, "name": ""})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert logged(ipam, Network.IPAcquired) == 1


def test_same_key_on_different_path_is_422(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    body = acquisition(child)
    assert client.post("/v1/ip/allocate", json=body, headers=keyed()).status_code == 201
    other = client.post("/v1/ip/allocate/10.0.0.9", json=body, headers=keyed())
    assert_error(other, 422, "Idempotency-Key")
    assert logged(ipam, Network.IPAcquired) == 1


def test_same_key_on_different_route_is_422(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    acquired = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())
    assert acquired.status_code == 201
    freed = client.delete(f"/v1/ip/free/{acquired.json()['ipaddress']}", headers=keyed())
    assert_error(freed, 422, "Idempotency-Key")
    assert logged(ipam, Network.IPReleased) == 0
    assert len(ipam.app.list_ips()) == 1


def test_same_key_with_different_query_is_422(
    client: TestClient, ipam: Ipam, super_network: dict[str, Any],
) -> None:
    body = {"id": super_network["id"], "description": "updated"}
    assert client.post("/v1/network", json=body, headers=keyed()).status_code == 200
    forced = client.post("/v1/network?force=true", json=body, headers=keyed())
    assert_error(forced, 422, "Idempotency-Key")


def test_same_key_from_another_subject_is_another_request(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="bob",
                                  role="editor")
    body = acquisition(child)
    mine = client.post("/v1/ip/allocate", json=body, headers=keyed())
    bobs = client.post("/v1/ip/allocate", json=body, headers=keyed(**bearer(secret)))
    bobs_again = client.post("/v1/ip/allocate", json=body, headers=keyed(**bearer(secret)))
    assert (mine.status_code, bobs.status_code, bobs_again.status_code) == (201, 201, 201)
    assert (mine.json()["ipaddress"], bobs.json()["ipaddress"]) == ("10.0.0.1", "10.0.0.2")
    assert bobs_again.json() == bobs.json()
    assert logged(ipam, Network.IPAcquired) == 2


def test_same_key_from_another_subject_with_another_body_is_no_mismatch(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="bob",
                                  role="editor")
    mine = client.post("/v1/ip/allocate", json=acquisition(child, name="a"), headers=keyed())
    bobs = client.post("/v1/ip/allocate", json=acquisition(child, name="b"),
                       headers=keyed(**bearer(secret)))
    assert (mine.status_code, bobs.status_code) == (201, 201), bobs.text
    assert logged(ipam, Network.IPAcquired) == 2


# -- bad keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    b"",
    b"k" * 256,
    "schl\u00fcssel".encode(),
    "\u30ad\u30fc".encode(),
    b"two words",
    b"tab\there",
])
def test_invalid_key_is_400(
    client: TestClient, ipam: Ipam, child: dict[str, Any], key: bytes,
) -> None:
    response = client.post("/v1/ip/allocate", json=acquisition(child),
                           headers={"Idempotency-Key": key})
    assert_error(response, 400, "Idempotency-Key")
    assert logged(ipam, Network.IPAcquired) == 0
    assert ipam.app.list_ips() == []


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/v1/ip/free/10.0.0.1"), ("DELETE", "/v1/network/free/nope"),
    ("PUT", "/v1/network"),
])
def test_invalid_key_is_400_on_every_write(
    client: TestClient, ipam: Ipam, method: str, path: str,
) -> None:
    body = {"id": "n", "prefixes": ["10.9.0.0/24"]} if method == "PUT" else None
    response = client.request(method, path, json=body, headers={"Idempotency-Key": "a b"})
    assert_error(response, 400, "Idempotency-Key")
    assert ipam.app.list_networks() == []


@pytest.mark.parametrize("key", ["k" * 255, "!", "~" * 10, "a:b/c?d=e&f#g"])
def test_key_of_visible_ascii_up_to_255_is_accepted(
    client: TestClient, ipam: Ipam, child: dict[str, Any], key: str,
) -> None:
    first, second = twice(client, "POST", "/v1/ip/allocate", acquisition(child), key=key)
    assert (first.status_code, second.status_code) == (201, 201), first.text
    assert second.json() == first.json()
    assert logged(ipam, Network.IPAcquired) == 1


# -- failures are not remembered --------------------------------------------------------------


def test_failed_request_is_not_remembered(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    assert client.post("/v1/ip/allocate/10.0.0.5", json=acquisition(child)).status_code == 201
    body = acquisition(child, name="mine")
    taken = client.post("/v1/ip/allocate/10.0.0.5", json=body, headers=keyed())
    assert_error(taken, 409)
    assert client.delete("/v1/ip/free/10.0.0.5").status_code == 200
    retried = client.post("/v1/ip/allocate/10.0.0.5", json=body, headers=keyed())
    assert retried.status_code == 201, retried.text
    assert (retried.json()["ipaddress"], retried.json()["name"]) == ("10.0.0.5", "mine")
    replayed = client.post("/v1/ip/allocate/10.0.0.5", json=body, headers=keyed())
    assert (replayed.status_code, replayed.json()) == (201, retried.json())
    assert logged(ipam, Network.IPAcquired) == 2


def test_request_refused_for_missing_network_is_not_remembered(
    client: TestClient, ipam: Ipam, super_network: dict[str, Any],
) -> None:
    body = {"networkid": "later", "projectid": SEED_PROJECT}
    assert_error(client.post("/v1/ip/allocate", json=body, headers=keyed()), 404, "not found")
    assert client.put("/v1/network", json={"id": "later", "prefixes": ["10.9.0.0/24"]}).status_code == 201
    retried = client.post("/v1/ip/allocate", json=body, headers=keyed())
    assert retried.status_code == 201, retried.text
    assert retried.json()["ipaddress"] == "10.9.0.1"


def test_request_refused_for_role_is_not_remembered(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    """A 403 leaves no record under the caller's key: once allowed, the same key works."""
    _, viewer = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="vic",
                                  role="viewer")
    refused = client.post("/v1/ip/allocate", json=acquisition(child),
                          headers=keyed(**bearer(viewer)))
    assert_error(refused, 403)
    _, editor = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="vic",
                                  role="editor")
    allowed = client.post("/v1/ip/allocate", json=acquisition(child),
                          headers=keyed(**bearer(editor)))
    assert allowed.status_code == 201, allowed.text
    assert logged(ipam, Network.IPAcquired) == 1


# -- records beside the log, not in it (issue 11) ---------------------------------------------


def test_a_replay_sends_the_first_body_byte_for_byte_even_after_the_response_shape_changed(
    client: TestClient, child: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.schemas import IPResponse

    first = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())
    assert first.status_code == 201, first.text

    def changed_shape(_: dict[str, Any]) -> Any:
        raise AssertionError("a replay must not render the result again")

    monkeypatch.setattr(IPResponse, "of", changed_shape)  # a later release's response model
    replay = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())

    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_an_idempotent_write_adds_no_event_and_no_history_row(
    client: TestClient, ipam: Ipam, child: dict[str, Any],
) -> None:
    head = ipam.projection.head()
    plain = client.post("/v1/ip/allocate", json=acquisition(child))
    after_plain = ipam.projection.head()
    keyed_one = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())
    assert (plain.status_code, keyed_one.status_code) == (201, 201)

    assert ipam.projection.head() - after_plain == after_plain - head  # the same events
    history = client.get(f"/v1/network/{child['id']}/history", params={"limit": 1000}).json()
    assert all(event["type"] != "Recorded" for event in history["events"])
    with ipam.projection.engine.connect() as conn:
        topics = {row[0] for row in conn.execute(text("SELECT DISTINCT topic FROM ipam_events"))}
        kept = conn.execute(text("SELECT status, body FROM ipam_idempotency")).all()
    assert not any("Idempotent" in topic for topic in topics)
    assert [(row.status, bytes(row.body)) for row in kept] == [(201, keyed_one.content)]


def test_a_key_is_forgotten_after_its_lifetime(
    ipam: Ipam, child: dict[str, Any], client: TestClient,
) -> None:
    from datetime import timedelta

    assert ipam.app.idempotency is not None
    assert ipam.app.idempotency.ttl == timedelta(hours=24)  # the default
    ipam.app.idempotency.ttl = timedelta(microseconds=1)
    first = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())
    later = client.post("/v1/ip/allocate", json=acquisition(child), headers=keyed())

    assert (first.status_code, later.status_code) == (201, 201)
    assert first.json()["ipaddress"] != later.json()["ipaddress"]  # a new change, not a replay
    assert "Idempotent-Replayed" not in later.headers


def test_the_lifetime_is_configured_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from infrastructure.settings import Settings

    monkeypatch.setenv("IPAM_IDEMPOTENCY_TTL", "3600")
    assert Settings.from_env("sqlite:///x.db").idempotency_ttl == 3600
    monkeypatch.setenv("IPAM_IDEMPOTENCY_TTL", "an hour")
    with pytest.raises(ValueError, match="IPAM_IDEMPOTENCY_TTL"):
        Settings.from_env("sqlite:///x.db")
