"""Shared fixtures: a real store per test, on SQLite and (when reachable) PostgreSQL.

PostgreSQL tests use `IPAM_TEST_POSTGRES_URL` (default `postgresql://postgres@127.0.0.1:5432/test`
as the admin connection). Each pytest worker gets its own database, emptied before every test.
When PostgreSQL is unreachable those tests are skipped, unless `IPAM_REQUIRE_POSTGRES=1` (CI),
where they fail.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from application.context import RequestContext
from application.service import IpamApplication
from domain.errors import IpamError
from domain.network_values import NetworkAttributes
from infrastructure.store import Ipam, open_ipam

ADMIN_URL = os.environ.get("IPAM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("IPAM_REQUIRE_POSTGRES") == "1"


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database



def pytest_configure(config: pytest.Config) -> None:
    """No test touches the user's own default store (`~/.local/share/ipam`): every process of
    the run, and every server or command it starts, has a data directory of its own."""
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="ipam-tests-xdg-")
    os.environ.pop("IPAM_DATA_DIR", None)

@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test process's own, created fresh and dropped at the end."""
    database = f"ipam_test_{os.getpid()}"
    try:
        admin = create_engine(_psycopg(ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
    except Exception as error:  # unreachable server
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    yield _with_database(ADMIN_URL, database)
    admin = create_engine(_psycopg(ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


def reset_postgres(url: str) -> None:
    engine = create_engine(_psycopg(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An empty store: a SQLite file, or this worker's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ipam.db'}"
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'ipam.db'}"


@pytest.fixture
def stored_ipam(db_url: str) -> Iterator[Ipam]:
    """The IPAM on a real store (SQLite file, PostgreSQL)."""
    opened = open_ipam(db_url)
    yield opened
    opened.close()


@pytest.fixture
def ipam(stored_ipam: Ipam) -> Ipam:
    """The IPAM under test: on a real store here; the use-case tests (tests/application) add
    the in-memory fakes as a further variant."""
    return stored_ipam


@pytest.fixture
def app(ipam: Ipam) -> IpamApplication:
    return ipam.app


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext.new(actor="test")


@pytest.fixture
def client(ipam: Ipam) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(ipam, follow=False), headers=admin_headers(ipam)) as test_client:
        yield test_client


def new_network(app: IpamApplication, ctx: RequestContext, *, network_id: str = "",
                prefixes: list[str] | tuple[str, ...] = (), **attributes: Any) -> dict[str, Any]:
    """`create_network` with the attributes as keywords (a test's shorthand for
    `attributes=NetworkAttributes(...)`)."""
    return app.create_network(context=ctx, network_id=network_id, prefixes=list(prefixes),
                              attributes=NetworkAttributes(**attributes))


def admin_headers(ipam: Ipam) -> dict[str, str]:
    """The Authorization header of a new admin token of this store."""
    _, secret = ipam.tokens.issue(context=RequestContext.new(actor="tests"), subject="test-admin",
                                  role="admin")
    return {"Authorization": f"Bearer {secret}"}


# the seed's super network (shared/seed/dual-stack-support.md)
SEED_SUPER: dict[str, Any] = {
    "id": "tenant-super-network-mini-lab",
    "name": "Project Super Network",
    "description": "Super network of all project networks",
    "partitionid": "mini-lab",
    "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
    "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96},
    "privatesuper": True,
}
SEED_PROJECT = "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"


def refused(error: type[IpamError], call: Callable[[], object]) -> str:
    """Run a command expected to fail with `error`; return its message."""
    with pytest.raises(error) as caught:
        call()
    return caught.value.message
