"""Token use cases on SQLite and PostgreSQL: issue (the secret once, only its digest stored),
list, revoke, expiry, authenticate, the first-start bootstrap, and the events they record."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from sqlalchemy import create_engine, text

from application.context import RequestContext
from application.tokens import MAX_SECRET, Tokens
from domain.errors import InvalidRequestError, NotFoundError, UnauthenticatedError
from domain.network import network_uuid
from domain.token import PREFIX, ApiToken, Role, TokenIndex, digest_of, token_index_uuid
from infrastructure.store import Ipam, open_ipam
from infrastructure.transfer import export
from tests.conftest import refused

pytestmark = pytest.mark.integration  # on real stores


@pytest.fixture
def ipam(stored_ipam: Ipam) -> Ipam:
    """Tokens are looked up in the store itself (a keyed read per request): real stores only."""
    return stored_ipam


@pytest.fixture
def tokens(ipam: Ipam) -> Tokens:
    return ipam.tokens


def issue(tokens: Tokens, subject: str = "alice", role: str = "editor", **extra: Any) -> str:
    _, secret = tokens.issue(context=RequestContext.new(actor="operator"), subject=subject,
                             role=role, **extra)
    return secret


def stored_states(ipam: Ipam) -> list[bytes]:
    """The raw `state` of every stored event and snapshot, as the database holds it."""
    engine = create_engine(ipam.settings.database_url)
    try:
        with engine.connect() as conn:
            return [bytes(row[0]) for table in ("ipam_events", "ipam_snapshots")
                    for row in conn.execute(text(f"SELECT state FROM {table}"))]
    finally:
        engine.dispose()


def save_expired(ipam: Ipam, subject: str) -> str:
    """A token whose lifetime ended a minute ago, registered like an issued one (the use case
    refuses a non-positive lifetime, so the domain is asked directly)."""
    secret = PREFIX + "expired-" + subject
    token = ApiToken.issue(digest=digest_of(secret), subject=subject, role=Role.editor,
                           projects=[], expires_at=datetime.now(UTC) - timedelta(minutes=1),
                           context={"actor": "operator"})
    try:
        index: TokenIndex = ipam.app.repository.get(token_index_uuid())
    except AggregateNotFoundError:
        index = TokenIndex.start({"actor": "operator"})
    index.register(str(token.id), {"actor": "operator"})
    ipam.app.save(token, index)
    return secret


def token_events(ipam: Ipam) -> list[dict[str, Any]]:
    return [r for r in export(ipam) if r["aggregate_type"] == "ApiToken"]


# -- issue ------------------------------------------------------------------------------------


def test_issue_returns_secret_with_prefix(tokens: Tokens) -> None:
    info, secret = tokens.issue(context=RequestContext.new(actor="operator"), subject="alice",
                                role="editor", projects=["p2", "p1", "p1", " "])
    assert secret.startswith("ipam_")
    assert len(secret) > len("ipam_") + 40  # 256 random bits
    assert (info.subject, info.role, info.projects) == ("alice", "editor", ("p1", "p2"))
    assert info.issued_by == "operator"
    assert (info.expires_at, info.revoked_at) == (None, None)


def test_issue_returns_a_new_secret_each_time(tokens: Tokens) -> None:
    assert len({issue(tokens) for _ in range(5)}) == 5


def test_issue_stores_only_the_digest(ipam: Ipam, tokens: Tokens) -> None:
    secret = issue(tokens)
    states = stored_states(ipam)
    random_part = secret.removeprefix(PREFIX).encode()
    assert not [s for s in states if random_part in s]
    assert [s for s in states if digest_of(secret).encode() in s]


def test_issue_refuses_unknown_role(tokens: Tokens) -> None:
    message = refused(InvalidRequestError, lambda: issue(tokens, role="root"))
    assert "viewer, editor, admin" in message
    assert tokens.list() == []


def test_issue_accepts_role_in_any_case(tokens: Tokens) -> None:
    secret = issue(tokens, role=" Admin ")
    assert tokens.authenticate(secret).role is Role.admin


def test_issue_refuses_blank_subject(tokens: Tokens) -> None:
    assert "subject" in refused(InvalidRequestError, lambda: issue(tokens, subject="  "))
    assert tokens.list() == []


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_issue_refuses_lifetime_not_positive(tokens: Tokens, lifetime: timedelta) -> None:
    assert "positive" in refused(InvalidRequestError, lambda: issue(tokens, expires_in=lifetime))
    assert tokens.list() == []


def test_issue_sets_expiry_from_lifetime(tokens: Tokens) -> None:
    info, _ = tokens.issue(context=RequestContext.new(), subject="ci", role="viewer",
                           expires_in=timedelta(days=90))
    assert info.expires_at is not None
    assert round((info.expires_at - info.issued_at) / timedelta(hours=1)) == 90 * 24
    assert info.state(datetime.now(UTC)) == "active"
    assert info.state(info.expires_at) == "expired"


# -- list -------------------------------------------------------------------------------------


def test_list_shows_subject_role_projects_state_in_issue_order(ipam: Ipam, tokens: Tokens) -> None:
    issue(tokens, "alice", "editor", projects=["p1"])
    bob = issue(tokens, "bob", "viewer")
    issue(tokens, "carol", "admin", projects=["p2", "p3"])
    save_expired(ipam, "dave")
    tokens.revoke(tokens.list()[1].token_id, context=RequestContext.new())
    now = datetime.now(UTC)
    listed = [(i.subject, i.role, i.projects, i.state(now)) for i in tokens.list()]
    assert listed == [
        ("alice", "editor", ("p1",), "active"),
        ("bob", "viewer", (), "revoked"),
        ("carol", "admin", ("p2", "p3"), "active"),
        ("dave", "editor", (), "expired"),
    ]
    assert bob not in repr(tokens.list())


def test_list_is_empty_on_empty_store(tokens: Tokens) -> None:
    assert tokens.list() == []


def test_list_sees_tokens_issued_by_another_application(db_url: str, tokens: Tokens) -> None:
    other = open_ipam(db_url)
    try:
        issue(other.tokens, "elsewhere")
    finally:
        other.close()
    assert [i.subject for i in tokens.list()] == ["elsewhere"]


# -- authenticate -----------------------------------------------------------------------------


def test_authenticate_returns_principal_of_token(tokens: Tokens) -> None:
    principal = tokens.authenticate(issue(tokens, "ci", "editor", projects=["p1", "p2"]))
    assert (principal.subject, principal.role, principal.projects) == (
        "ci", Role.editor, frozenset({"p1", "p2"}))


def test_authenticate_gives_every_project_to_token_without_projects(tokens: Tokens) -> None:
    assert tokens.authenticate(issue(tokens, "ops", "admin")).projects is None


def test_authenticate_refuses_revoked_token_immediately(tokens: Tokens) -> None:
    secret = issue(tokens)
    tokens.authenticate(secret)  # loaded, and cached
    info = tokens.revoke(tokens.list()[0].token_id, context=RequestContext.new())
    assert info.revoked_at is not None
    assert "revoked" in refused(UnauthenticatedError, lambda: tokens.authenticate(secret))


def test_authenticate_refuses_token_revoked_by_another_application(
    db_url: str, tokens: Tokens,
) -> None:
    secret = issue(tokens)
    tokens.authenticate(secret)  # cached here before the other application revokes it
    other = open_ipam(db_url)
    try:
        other.tokens.revoke(other.tokens.list()[0].token_id, context=RequestContext.new())
    finally:
        other.close()
    assert "revoked" in refused(UnauthenticatedError, lambda: tokens.authenticate(secret))


def test_authenticate_refuses_expired_token(ipam: Ipam, tokens: Tokens) -> None:
    secret = save_expired(ipam, "dave")
    assert "expired" in refused(UnauthenticatedError, lambda: tokens.authenticate(secret))


def test_authenticate_accepts_token_before_expiry(tokens: Tokens) -> None:
    secret = issue(tokens, expires_in=timedelta(hours=1))
    assert tokens.authenticate(secret).subject == "alice"


@pytest.mark.parametrize("secret", [
    "ipam_" + "x" * 43,
    "nope",
    "",
    "IPAM_" + "x" * 43,
    PREFIX + "a" * MAX_SECRET,
    PREFIX + "\udcff",
])
def test_authenticate_refuses_unknown_token(tokens: Tokens, secret: str) -> None:
    issue(tokens)
    assert refused(UnauthenticatedError, lambda: tokens.authenticate(secret)) == "invalid token"


def test_authenticate_refuses_secret_without_prefix(tokens: Tokens) -> None:
    secret = issue(tokens)
    unprefixed = secret.removeprefix(PREFIX)
    assert refused(UnauthenticatedError, lambda: tokens.authenticate(unprefixed)) == "invalid token"


# -- revoke -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token_id", [
    "9d096642-bfa0-563a-baa7-9d83ec8d91b5", "not-a-uuid", "", str(token_index_uuid()),
])
def test_revoke_refuses_unknown_token_id(tokens: Tokens, token_id: str) -> None:
    issue(tokens)
    message = refused(NotFoundError, lambda: tokens.revoke(token_id, context=RequestContext.new()))
    assert "not found" in message
    assert tokens.list()[0].revoked_at is None


def test_revoke_refuses_network_id(ipam: Ipam, tokens: Tokens) -> None:
    ipam.app.create_network(context=RequestContext.new(), network_id="n", prefixes=["10.0.0.0/24"])
    nid = str(network_uuid("n"))
    assert "not found" in refused(NotFoundError,
                                  lambda: tokens.revoke(nid, context=RequestContext.new()))


def test_revoke_twice_keeps_first_revocation(ipam: Ipam, tokens: Tokens) -> None:
    issue(tokens)
    token_id = tokens.list()[0].token_id
    first = tokens.revoke(token_id, context=RequestContext.new(actor="a", reason="lost"))
    second = tokens.revoke(f"  {token_id} ", context=RequestContext.new(actor="b"))
    assert second.revoked_at == first.revoked_at
    assert [(r["type"], r["actor"]) for r in token_events(ipam)] == [("Issued", "operator"),
                                                                     ("Revoked", "a")]


def test_issue_and_revoke_are_events_with_actor_and_reason(ipam: Ipam, tokens: Tokens) -> None:
    info, secret = tokens.issue(context=RequestContext.new(actor="local:ops", reason="new CI"),
                                subject="ci", role="editor", projects=["p1"])
    tokens.revoke(info.token_id, context=RequestContext.new(actor="local:sec", reason="leaked"))
    events = token_events(ipam)
    assert [(e["type"], e["aggregate_id"], e["actor"], e["reason"]) for e in events] == [
        ("Issued", info.token_id, "local:ops", "new CI"),
        ("Revoked", info.token_id, "local:sec", "leaked"),
    ]
    facts = events[0]["facts"]
    assert (facts["digest"], facts["subject"], facts["role"], facts["projects"]) == (
        digest_of(secret), "ci", "editor", ["p1"])
    assert secret not in str(events)


def test_issue_records_operator_on_every_event(ipam: Ipam, tokens: Tokens) -> None:
    issue(tokens)
    assert [(r["aggregate_type"], r["type"], r["actor"]) for r in export(ipam)
            if r["actor"] != "operator"] == []


# -- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_issues_admin_token_on_empty_store(ipam: Ipam, tokens: Tokens) -> None:
    secret = tokens.bootstrap(RequestContext.new(actor="ipam serve"))
    assert secret is not None and secret.startswith(PREFIX)
    principal = tokens.authenticate(secret)
    assert (principal.subject, principal.role, principal.projects) == ("admin", Role.admin, None)
    [info] = tokens.list()
    assert info.issued_by == "ipam serve"
    assert [e["actor"] for e in token_events(ipam)] == ["ipam serve"]


def test_bootstrap_issues_nothing_when_a_token_exists(tokens: Tokens) -> None:
    issue(tokens)
    assert tokens.bootstrap(RequestContext.new()) is None
    assert [i.subject for i in tokens.list()] == ["alice"]


def test_bootstrap_issues_nothing_when_only_revoked_tokens_exist(tokens: Tokens) -> None:
    issue(tokens)
    tokens.revoke(tokens.list()[0].token_id, context=RequestContext.new())
    assert tokens.bootstrap(RequestContext.new()) is None


def test_bootstrap_issues_nothing_the_second_time(tokens: Tokens) -> None:
    assert tokens.bootstrap(RequestContext.new()) is not None
    assert tokens.bootstrap(RequestContext.new()) is None
    assert len(tokens.list()) == 1


@pytest.fixture
def applications(db_url: str) -> Iterator[list[Ipam]]:
    """Eight applications on one empty store, as eight server processes would open it."""
    opened = [open_ipam(db_url) for _ in range(8)]
    yield opened
    for ipam in opened:
        ipam.close()


def test_bootstrap_issues_one_token_from_concurrent_applications(
    applications: list[Ipam],
) -> None:
    barrier = threading.Barrier(len(applications))

    def bootstrap(ipam: Ipam) -> str | None:
        barrier.wait(timeout=30)
        return ipam.tokens.bootstrap(RequestContext.new(actor="ipam serve"))

    with ThreadPoolExecutor(max_workers=len(applications)) as pool:
        secrets = [s for s in pool.map(bootstrap, applications) if s is not None]
    assert len(secrets) == 1
    reader = applications[0].tokens
    assert [(i.subject, i.role) for i in reader.list()] == [("admin", "admin")]
    assert reader.authenticate(secrets[0]).role is Role.admin
