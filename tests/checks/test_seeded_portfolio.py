"""Every check over a seeded portfolio: a constant number of statements at any size, and something to find.

The seed plants every situation a check looks for (checks/seed.py), so these
tests also prove the demo portfolio exercises the whole checklist.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import anyio
import pytest

import checks
from checks.seed import seed_portfolio
from heartbeat_mcp.database import Database
from heartbeat_mcp.migrate import upgrade
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.task import CheckContext, CheckResult, HostInfo, TaskSpec
from tests.conftest import BACKENDS, drop_postgres, fresh_postgres_url
from tests.factories import NOW, count_statements, settings

SIZES = (100, 10_000)
TASKS = {spec.name: spec for spec in checks.pack.tasks}
# What each check finds in a seeded portfolio: items, or autonomous actions taken.
FINDS_NOTHING_BY_DESIGN = {
    "relationship_scores",  # scores, no findings
    "rescore_properties",  # re-scores, no findings
    "database", "external_apis", "background_workers", "mcp_server",  # a healthy system
    "deliver_notifications",  # forwards; nothing is failing
    "daily_digest",  # writes the digest, no findings
}


def run(database: Database, spec: TaskSpec) -> CheckResult:
    """One run the way the engine makes it: synchronous checks in a committed transaction."""
    host = HostInfo(transports=("memory",))
    if not inspect.iscoroutinefunction(spec.handler):
        with database.transaction() as session:
            return spec.handler(CheckContext(spec.name, NOW, settings(), database, host, session))
    return anyio.run(spec.handler, CheckContext(spec.name, NOW, settings(), database, host))


@pytest.fixture(scope="module", params=BACKENDS)
def portfolios(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Database]]:
    """The same seed at each size, on one backend, seeded once for the module."""
    urls = {}
    for size in SIZES:
        if request.param == "sqlite":
            urls[size] = f"sqlite:///{tmp_path_factory.mktemp('seeded') / f'{size}.db'}"
            upgrade(Database(urls[size]), load_packs())
        else:
            urls[size] = fresh_postgres_url(request.getfixturevalue("postgres_template"))
    databases = {size: Database(url) for size, url in urls.items()}
    for size, database in databases.items():
        seed_portfolio(database, properties=size, seed=11, now=NOW)
    yield databases
    for database in databases.values():
        database.dispose()
    if request.param != "sqlite":
        for url in urls.values():
            drop_postgres(url)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_check_issues_the_same_number_of_statements_at_100_and_10000_properties(
    portfolios: dict[int, Database], name: str
) -> None:
    counts, results = [], []
    for size in SIZES:
        with count_statements(portfolios[size]) as seen:
            results.append(run(portfolios[size], TASKS[name]))
        counts.append(len(seen))
    assert counts[0] == counts[1], f"{name}: {counts[0]} statements at 100 properties, {counts[1]} at 10,000"
    if name not in FINDS_NOTHING_BY_DESIGN:
        large = results[1]
        found = large.items or large.metrics.get("actions_taken") or large.data.get("ranking", {}).get("entries")
        assert found, f"{name} found nothing in a seeded portfolio"
