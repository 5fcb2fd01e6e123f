"""`ipam token revoke` by a unique prefix of the token's id (at least 4 characters, e.g. the first
8 that `ipam token list` shows), beside the whole id and the secret: an ambiguous prefix is a
usage error (exit 2) listing the tokens it starts, and revokes nothing; an unknown one exits 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from typer.testing import CliRunner, Result

from api.cli import app
from application.context import RequestContext
from domain.errors import UnauthenticatedError
from domain.token import (
    ApiToken,
    Role,
    TokenIndex,
    digest_of,
    new_secret,
    token_index_uuid,
    token_uuid,
)
from infrastructure.store import Ipam, open_ipam


def ipam_cli(url: str, *args: str, input: str | None = None) -> Result:  # noqa: A002
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False,
                              env={"IPAM_DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"})


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Ipam]:
    opened = open_ipam(sqlite_url)
    yield opened
    opened.close()


def issue(url: str, subject: str) -> str:
    """A token issued by `ipam token create`; its secret."""
    result = ipam_cli(url, "token", "create", "--subject", subject, "--role", "viewer")
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def tokens(url: str) -> dict[str, dict[str, Any]]:
    """`ipam token list -o json`, by subject."""
    result = ipam_cli(url, "token", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {t["subject"]: t for t in json.loads(result.stdout)}


def states(url: str) -> dict[str, str]:
    return {subject: t["state"] for subject, t in tokens(url).items()}


def twins(length: int = 4) -> tuple[str, str]:
    """Two fresh secrets whose tokens' ids start with the same `length` characters."""
    seen: dict[str, str] = {}
    while True:
        secret = new_secret()
        start = str(token_uuid(digest_of(secret)))[:length]
        if start in seen:
            return seen[start], secret
        seen[start] = secret


def save_issued(ipam: Ipam, secret: str, subject: str) -> str:
    """A token stored as `issue` stores one, for a secret chosen here (so that two ids can be
    made to share a prefix); its id."""
    context = RequestContext.new(actor="tests").as_event_field()
    token = ApiToken.issue(digest=digest_of(secret), subject=subject, role=Role.viewer,
                           projects=[], expires_at=None, context=context)
    try:
        index: TokenIndex = ipam.tokens.app.repository.get(token_index_uuid())
    except AggregateNotFoundError:  # no token yet
        index = TokenIndex.start(context)
    index.register(str(token.id), context)
    ipam.tokens.app.save(token, index)
    return str(token.id)


def test_revoke_by_the_first_8_characters_of_the_id_revokes_that_token(
    sqlite_url: str, store: Ipam,
) -> None:
    secret = issue(sqlite_url, "ci-a")
    issue(sqlite_url, "ci-b")
    token_id = tokens(sqlite_url)["ci-a"]["id"]
    result = ipam_cli(sqlite_url, "token", "revoke", token_id[:8], "--reason", "rotated")
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr).startswith(f"token {token_id} of ci-a revoked at ")
    assert states(sqlite_url) == {"ci-a": "revoked", "ci-b": "active"}
    with pytest.raises(UnauthenticatedError, match="revoked"):
        store.tokens.authenticate(secret)


@pytest.mark.parametrize("shape", [str.upper, lambda i: i[:4], lambda i: i[:13], lambda i: f" {i[:8]} "])
def test_revoke_takes_any_unique_prefix_of_4_or_more_characters_in_either_case(
    sqlite_url: str, shape: Any,
) -> None:
    issue(sqlite_url, "ci")
    token_id = tokens(sqlite_url)["ci"]["id"]
    result = ipam_cli(sqlite_url, "token", "revoke", shape(token_id))
    assert result.exit_code == 0, result.stderr
    assert states(sqlite_url) == {"ci": "revoked"}


def test_revoke_reads_a_prefix_from_standard_input(sqlite_url: str) -> None:
    issue(sqlite_url, "ci")
    token_id = tokens(sqlite_url)["ci"]["id"]
    result = ipam_cli(sqlite_url, "token", "revoke", "-", input=token_id[:8] + "\n")
    assert result.exit_code == 0, result.stderr
    assert states(sqlite_url) == {"ci": "revoked"}


def test_an_ambiguous_prefix_lists_the_tokens_it_starts_revokes_nothing_and_exits_2(
    sqlite_url: str, store: Ipam,
) -> None:
    first, second = twins()
    ids = [save_issued(store, first, "alice"), save_issued(store, second, "bob")]
    assert ids[0][:4] == ids[1][:4] and ids[0] != ids[1]
    result = ipam_cli(sqlite_url, "token", "revoke", ids[0][:4])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [one_line(line) for line in result.stderr.splitlines()]
    assert lines == [f"Error: 2 tokens' ids start with {ids[0][:4]}; give more of the id:",
                     f"{ids[0]} alice viewer active", f"{ids[1]} bob viewer active"]
    assert states(sqlite_url) == {"alice": "active", "bob": "active"}
    longer = next(n for n in range(5, 37) if ids[0][:n] != ids[1][:n])
    assert ipam_cli(sqlite_url, "token", "revoke", ids[1][:longer]).exit_code == 0
    assert states(sqlite_url) == {"alice": "active", "bob": "revoked"}


def test_an_unknown_prefix_says_so_and_exits_1(sqlite_url: str) -> None:
    issue(sqlite_url, "ci")
    token_id = tokens(sqlite_url)["ci"]["id"]
    unknown = next(p for p in ("0000", "ffff", "aaaa") if not token_id.startswith(p))
    result = ipam_cli(sqlite_url, "token", "revoke", unknown)
    assert result.exit_code == 1
    assert one_line(result.stderr) == f'Error: no token\'s id starts with "{unknown}"'
    assert states(sqlite_url) == {"ci": "active"}


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_prefix_shorter_than_4_characters_is_refused_with_exit_2(sqlite_url: str, length: int) -> None:
    issue(sqlite_url, "ci")
    token_id = tokens(sqlite_url)["ci"]["id"]
    result = ipam_cli(sqlite_url, "token", "revoke", token_id[:length])
    assert result.exit_code == 2
    assert "give at least 4 characters of the token's id" in one_line(result.stderr)
    assert states(sqlite_url) == {"ci": "active"}


def test_revoke_by_the_whole_id_and_by_the_secret_still_work(sqlite_url: str) -> None:
    secret = issue(sqlite_url, "leaked")
    issue(sqlite_url, "lost")
    by_secret = ipam_cli(sqlite_url, "token", "revoke", secret)
    assert by_secret.exit_code == 0, by_secret.stderr
    by_id = ipam_cli(sqlite_url, "token", "revoke", tokens(sqlite_url)["lost"]["id"])
    assert by_id.exit_code == 0, by_id.stderr
    assert states(sqlite_url) == {"leaked": "revoked", "lost": "revoked"}


@pytest.mark.parametrize("text", ["not-a-token", "ipam_unknown", "9d096642-bfa0-563a-baa7-9d83ec8d91b5"])
def test_what_is_no_token_exits_1(sqlite_url: str, text: str) -> None:
    issue(sqlite_url, "ci")
    result = ipam_cli(sqlite_url, "token", "revoke", text)
    assert result.exit_code == 1
    assert "not found" in result.stderr
    assert states(sqlite_url) == {"ci": "active"}


def test_a_prefix_never_reaches_what_is_not_a_token(sqlite_url: str, store: Ipam) -> None:
    """The token index's own id is no token, however it is abbreviated."""
    issue(sqlite_url, "ci")
    index_id = str(token_index_uuid())
    token_id = tokens(sqlite_url)["ci"]["id"]
    prefix = next(index_id[:n] for n in range(4, 37) if not token_id.startswith(index_id[:n]))
    assert ipam_cli(sqlite_url, "token", "revoke", prefix).exit_code == 1
    assert states(sqlite_url) == {"ci": "active"}
