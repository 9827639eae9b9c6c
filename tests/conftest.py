"""Fixtures shared by the suite: real SQLite files and real PostgreSQL databases.

Every test that takes `database` runs once per backend: SQLite always, and
PostgreSQL when HEARTBEAT_TEST_POSTGRES_URL is set. Each PostgreSQL test gets
its own database, cloned from a migrated template, and dropped afterwards.
In CI (CI=true) PostgreSQL is required: an unset or unreachable URL fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from heartbeat_mcp.database import Database, normalize_url
from heartbeat_mcp.migrate import upgrade
from heartbeat_mcp.plugins import load_packs

POSTGRES_URL = os.environ.get("HEARTBEAT_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEMPLATE_DB = f"heartbeat_test_template_{os.getpid()}"

if IN_CI and not POSTGRES_URL:
    raise pytest.UsageError("CI=true but HEARTBEAT_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI")

BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _admin_conninfo() -> str:
    url = normalize_url(POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that each PostgreSQL test clones (fast and isolated)."""
    if not POSTGRES_URL:
        pytest.skip("HEARTBEAT_TEST_POSTGRES_URL is not set")
    try:
        admin = psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at HEARTBEAT_TEST_POSTGRES_URL is unreachable: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    database = Database(_with_database(TEMPLATE_DB))
    upgrade(database, load_packs())
    database.dispose()
    yield TEMPLATE_DB
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')


def fresh_postgres_url(template: str) -> str:
    name = f"heartbeat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return _with_database(name)


def drop_postgres(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'heartbeat.db'}"
        database = Database(url)
        upgrade(database, load_packs())
        database.dispose()
        yield url
        return
    url = fresh_postgres_url(request.getfixturevalue("postgres_template"))
    yield url
    drop_postgres(url)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL database, for tests of multi-replica behaviour."""
    url = fresh_postgres_url(postgres_template)
    yield url
    drop_postgres(url)


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Database]:
    """A migrated, empty PostgreSQL database, opened: for concurrency tests that need PostgreSQL's row locks."""
    database = Database(postgres_url)
    yield database
    database.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
