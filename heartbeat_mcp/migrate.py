"""Schema migrations with Alembic, one branch per owner.

The engine's tables are the ``heartbeat`` branch (here); each check pack
brings its own branch of versions. Alembic does this well — ordering,
branches, offline SQL, downgrade — so we configure it rather than rebuild it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from heartbeat_mcp.database import Database
from heartbeat_mcp.task import CheckPack

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaBehind(RuntimeError):
    """The database is older than the code; an operator must upgrade it."""


def alembic_config(database: Database, packs: Sequence[CheckPack]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions")] + [str(p.migrations) for p in packs if p.migrations]
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    config.attributes["database"] = database
    config.attributes["packs"] = tuple(packs)
    return config


def code_heads(database: Database, packs: Sequence[CheckPack]) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database, packs)).get_heads())


def database_heads(database: Database) -> set[str]:
    with database.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def is_current(database: Database, packs: Sequence[CheckPack]) -> bool:
    return database_heads(database) == code_heads(database, packs)


def upgrade(database: Database, packs: Sequence[CheckPack]) -> None:
    command.upgrade(alembic_config(database, packs), "heads")


def ensure_schema(database: Database, packs: Sequence[CheckPack]) -> None:
    """Bring the embedded database up to date; refuse a stale PostgreSQL.

    An embedded SQLite file belongs to this process alone, so upgrading it is
    safe. A shared PostgreSQL database is upgraded deliberately by an
    operator, never as a side effect of starting a replica.
    """
    if is_current(database, packs):
        return
    if database.is_sqlite:
        upgrade(database, packs)
        return
    raise SchemaBehind(
        f"the database {database.safe_url} is behind this version's schema: "
        "run `heartbeat-mcp db upgrade` first"
    )
