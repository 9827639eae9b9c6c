"""The migrated schema and the seed data: the same on SQLite and PostgreSQL, and true to domain.md.

Migrations start from empty databases here (not the conftest's migrated
template), as `heartbeat-mcp db upgrade` does on a new installation. The
seed is checked for determinism (row by row, on both databases) and for the
shape a demo needs: every status of domain.md present, related rows in
proportion.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Column, Integer, MetaData, func, inspect, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TIMESTAMP

from checks.schema import (
    CONTACT_ROLES, CONTRACT_STATUSES, NOTE_SOURCES, OFFER_STATUSES, PIPELINE_STAGES, TASK_TYPES, Agent, Contact,
    Contract, ConversationHistory, Offer, Property, PropertyNote, RealtorBase, ScheduledTask,
)
from checks.seed import CITIES, default_agent_count, seed_portfolio
from checks.sql import named_in_notes
from heartbeat_mcp.database import Database
from heartbeat_mcp.migrate import upgrade
from heartbeat_mcp.models import EngineBase
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.sqltypes import UTCDateTime
from tests.conftest import BACKENDS, _admin_conninfo, _with_database, drop_postgres
from tests.factories import NOW

METADATA = (EngineBase.metadata, RealtorBase.metadata)
MODEL_TABLES = {table.name: table for metadata in METADATA for table in metadata.sorted_tables}

# The tables and columns of domain.md's "Domain tables" (the platform's names), and the heartbeat-owned
# tables it names.
DOMAIN_COLUMNS = {
    "agents": "id name email city created_at",
    "properties": "id agent_id title address city state zip_code price bedrooms bathrooms square_feet property_type"
                  " status deal_score score_grade created_at updated_at",
    "contacts": "id property_id name role phone email created_at",
    "contracts": "id property_id contact_id name status is_required required_by_date sent_at completed_at created_at"
                 " updated_at",
    "offers": "id property_id buyer_contact_id offer_price status submitted_at expires_at created_at",
    "scheduled_tasks": "id task_type status enabled title description scheduled_at repeat_interval_hours last_run_at"
                       " next_run_at property_id contact_id created_at",
    "notifications": "id type priority title message property_id contact_id contract_id agent_id data is_read"
                     " is_dismissed created_at",
    "property_notes": "id property_id content source created_at",
    "conversation_history": "id session_id property_id tool_name input_summary created_at",
    "zillow_enrichments": "id property_id zestimate created_at",
    "skip_traces": "id property_id owner_name phone_numbers emails created_at",
    "market_watchlists": "id agent_id name criteria is_active match_count last_matched_at created_at",
    "heartbeat_config": "id task_name enabled schedule_seconds last_run_at last_status last_result next_run_at"
                        " created_at",
    "heartbeat_runs": "id",
    "relationship_score_snapshots": "id contact_id score components scored_at",
}


# --- empty databases, migrated --------------------------------------------------------


def _table_names(database: Database) -> list[str]:
    with database.engine.connect() as conn:
        return inspect(conn).get_table_names()


def _migrated(database: Database) -> Database:
    assert _table_names(database) == [], "the migration must start from an empty database"
    upgrade(database, load_packs())
    return database


@pytest.fixture(scope="module")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = _migrated(Database(f"sqlite:///{tmp_path_factory.mktemp('schema') / 'heartbeat.db'}"))
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def postgres_schema(postgres_template: str) -> Iterator[Database]:
    """A new, empty PostgreSQL database (from template0, not the migrated template), then migrated.

    Taking `postgres_template` first makes an unreachable server fail the
    test (skip only when no URL is set outside CI), as every PostgreSQL test does.
    """
    name = f"heartbeat_test_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    url = _with_database(name)
    database = Database(url)
    try:
        yield _migrated(database)
    finally:
        database.dispose()
        drop_postgres(url)


@pytest.fixture(params=BACKENDS)
def schema(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{request.param}_schema")


def _reflect(database: Database) -> dict[str, dict[str, Any]]:
    """Per table: columns with nullability, primary key, foreign keys, indexes and unique constraints."""
    with database.engine.connect() as conn:
        inspector = inspect(conn)
        return {
            table: {
                "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": sorted(
                    (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
                     tuple(fk["referred_columns"]), fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                ),
                # PostgreSQL also lists the index behind each unique constraint; those are compared as constraints.
                "indexes": sorted(
                    (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                    for ix in inspector.get_indexes(table) if "duplicates_constraint" not in ix
                ),
                "unique": sorted(
                    (uq["name"], tuple(uq["column_names"])) for uq in inspector.get_unique_constraints(table)
                ),
            }
            for table in inspector.get_table_names()
        }


def test_sqlite_and_postgresql_get_the_same_tables_columns_and_constraints(
    sqlite_schema: Database, postgres_schema: Database,
) -> None:
    on_sqlite, on_postgres = _reflect(sqlite_schema), _reflect(postgres_schema)

    assert sorted(on_sqlite) == sorted(on_postgres)
    assert set(MODEL_TABLES) | {"alembic_version"} == set(on_sqlite)
    for table in on_sqlite:
        assert on_sqlite[table] == on_postgres[table], table


def test_json_columns_are_jsonb_and_times_carry_their_zone_on_postgresql(postgres_schema: Database) -> None:
    with postgres_schema.engine.connect() as conn:
        inspector = inspect(conn)
        reflected = {(t, c["name"]): c["type"] for t in MODEL_TABLES for c in inspector.get_columns(t)}

    def columns_of(type_: type) -> set[tuple[str, str]]:
        return {(t.name, c.name) for t in MODEL_TABLES.values() for c in t.columns if isinstance(c.type, type_)}

    json_columns, time_columns = columns_of(JSON), columns_of(UTCDateTime)
    assert {("notifications", "data"), ("heartbeat_config", "last_result"), ("market_watchlists", "criteria")} <= (
        json_columns)
    assert {key for key, type_ in reflected.items() if isinstance(type_, JSONB)} == json_columns
    assert {key for key, type_ in reflected.items() if isinstance(type_, JSON)} == json_columns  # no plain json
    assert all(isinstance(reflected[key], TIMESTAMP) and reflected[key].timezone for key in time_columns)


def _differences(database: Database, metadata: Any) -> list[Any]:
    with database.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def test_the_migrated_schema_matches_the_models(schema: Database) -> None:
    assert [p.metadata for p in load_packs()] == [RealtorBase.metadata]  # what the migrations are written from

    assert _differences(schema, list(METADATA)) == []


def test_a_model_the_migrations_lack_is_reported_as_a_difference(schema: Database) -> None:
    """The comparison above can fail: a column added to a model without a migration shows up."""
    changed = MetaData(naming_convention=RealtorBase.metadata.naming_convention)
    for table in RealtorBase.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["agents"].append_column(Column("license_number", Integer, nullable=True))

    differences = _differences(schema, [EngineBase.metadata, changed])

    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", "agents", "license_number")]


def test_every_table_and_column_of_domain_md_exists(schema: Database) -> None:
    reflected = _reflect(schema)

    missing = {table: sorted(set(columns.split()) - set(reflected.get(table, {}).get("columns", {})))
               for table, columns in DOMAIN_COLUMNS.items()}
    assert {table: columns for table, columns in missing.items() if columns} == {}
    assert reflected["heartbeat_config"]["unique"] == [("uq_heartbeat_config_task_name", ("task_name",))]


def test_the_indexes_declared_in_the_models_exist(schema: Database) -> None:
    reflected = _reflect(schema)

    declared = {
        (table.name, index.name, tuple(c.name for c in index.columns), bool(index.unique))
        for table in MODEL_TABLES.values() for index in table.indexes
    }
    present = {(table, *index) for table, found in reflected.items() for index in found["indexes"]}
    assert len(declared) > 20
    assert declared <= present
    assert ("contracts", "ix_contracts_status_required_by", ("status", "required_by_date"), False) in declared


# --- the seed ---------------------------------------------------------------------------

PROPERTIES = 300


def _canonical(value: Any) -> str:
    """A value as text that is the same whichever database returned it (JSONB reorders keys)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return repr(value)


# What relationship_scores derives from the other tables and keeps for itself: a seed leaves them to its first run.
FILLED_BY_CHECKS = {"note_mentions", "scored_contacts"}
SEEDED_TABLES = [table for table in RealtorBase.metadata.sorted_tables if table.name not in FILLED_BY_CHECKS]


def row_digests(database: Database) -> dict[str, tuple[int, str]]:
    """Per seeded realtor table: its row count and a digest of every row, in id order."""
    digests = {}
    with database.engine.connect() as conn:
        for table in SEEDED_TABLES:
            digest, count = hashlib.sha256(), 0
            for row in conn.execute(select(table).order_by(table.c.id)):
                digest.update("\x1f".join(map(_canonical, row)).encode() + b"\x1e")
                count += 1
            digests[table.name] = (count, digest.hexdigest())
    return digests


@pytest.fixture(scope="module")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty migrated SQLite file, copied for each seeding (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("seed") / "migrated.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database, load_packs())
    database.dispose()
    return path


@pytest.fixture
def new_sqlite(migrated_sqlite_file: Path, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Make fresh migrated SQLite databases on demand."""
    made: list[Database] = []

    def make() -> Database:
        path = tmp_path / f"seeded{len(made)}.db"
        shutil.copy(migrated_sqlite_file, path)
        made.append(Database(f"sqlite:///{path}"))
        return made[-1]

    yield make
    for database in made:
        database.dispose()


def seeded(database: Database, seed: int, now: datetime = NOW) -> dict[str, tuple[int, str]]:
    summary = seed_portfolio(database, properties=PROPERTIES, seed=seed, now=now)
    digests = row_digests(database)
    assert {table: count for table, (count, _) in digests.items()} == {
        table: summary.rows.get(table, 0) for table in digests}
    return digests


def test_the_same_seed_and_now_give_identical_rows(new_sqlite: Callable[[], Database]) -> None:
    first, second = seeded(new_sqlite(), seed=7), seeded(new_sqlite(), seed=7)

    assert first == second
    assert all(count > 0 for count, _ in first.values())


def test_postgresql_gets_the_same_rows_as_sqlite(new_sqlite: Callable[[], Database], postgres_url: str) -> None:
    postgres = Database(postgres_url)
    try:
        assert seeded(postgres, seed=7) == seeded(new_sqlite(), seed=7)
    finally:
        postgres.dispose()


def test_a_different_seed_or_now_gives_different_rows(new_sqlite: Callable[[], Database]) -> None:
    base = seeded(new_sqlite(), seed=7)
    other_seed = seeded(new_sqlite(), seed=8)
    later = seeded(new_sqlite(), seed=7, now=NOW + timedelta(days=1))

    for other in (other_seed, later):
        assert [table for table in base if base[table][1] == other[table][1]] == []


@pytest.fixture(scope="module", params=[0, 7, 2026])
def portfolio(
    request: pytest.FixtureRequest, migrated_sqlite_file: Path, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A seeded demo portfolio of 300 properties, read by the shape tests (several seeds)."""
    path = tmp_path_factory.mktemp("portfolio") / "seeded.db"
    shutil.copy(migrated_sqlite_file, path)
    database = Database(f"sqlite:///{path}")
    seed_portfolio(database, properties=PROPERTIES, seed=request.param, now=NOW)
    yield database
    database.dispose()


def _values(database: Database, column: Any, *where: Any) -> set[Any]:
    with database.sessions() as session:
        return set(session.scalars(select(column).where(*where).distinct()))


def _count(database: Database, model: Any, *where: Any) -> int:
    with database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_every_value_domain_md_names_appears(portfolio: Database) -> None:
    assert _values(portfolio, Property.status) == set(PIPELINE_STAGES)
    assert _values(portfolio, Contact.role) == set(CONTACT_ROLES)
    assert _values(portfolio, Offer.status) == set(OFFER_STATUSES)
    assert _values(portfolio, ScheduledTask.task_type) == set(TASK_TYPES)
    assert _values(portfolio, PropertyNote.source) == set(NOTE_SOURCES)


def test_every_contract_status_appears_with_and_without_a_deadline(portfolio: Database) -> None:
    assert _values(portfolio, Contract.status, Contract.required_by_date.is_not(None)) == set(CONTRACT_STATUSES)
    assert _values(portfolio, Contract.status, Contract.required_by_date.is_(None)) == set(CONTRACT_STATUSES)
    assert _values(portfolio, Contract.is_required) == {True, False}


@pytest.mark.parametrize(("model", "low", "high"), [
    (Contact, 2.5, 3.5),
    (Contract, 1.2, 1.9),
    (PropertyNote, 17.0, 23.0),
    (ConversationHistory, 8.0, 12.0),
], ids=["contacts", "contracts", "notes", "history"])
def test_related_rows_are_in_proportion_to_the_properties(
    portfolio: Database, model: Any, low: float, high: float,
) -> None:
    per_property = _count(portfolio, model, model.property_id.is_not(None)) / _count(portfolio, Property)

    assert low <= per_property <= high


def test_every_contact_is_named_in_a_note_on_their_property(portfolio: Database) -> None:
    named = named_in_notes(None).subquery("named")
    with portfolio.sessions() as session:
        mentioned = session.scalar(select(func.count(named.c.contact_id.distinct())))

    assert mentioned == _count(portfolio, Contact) > 0


def test_several_agents_work_in_several_cities(portfolio: Database) -> None:
    agents = _count(portfolio, Agent)

    assert agents == default_agent_count(PROPERTIES) >= 3
    assert len(_values(portfolio, Agent.city)) >= 3
    assert _values(portfolio, Property.city) == {city.name for city in CITIES}
    assert len(_values(portfolio, Property.agent_id)) == agents
