"""Alembic environment: the connection and metadata come from `heartbeat_mcp.migrate`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from heartbeat_mcp.models import EngineBase
from heartbeat_mcp.sqltypes import UTCDateTime

config = context.config
database = config.attributes["database"]
packs = config.attributes["packs"]
target_metadata = [EngineBase.metadata] + [p.metadata for p in packs if p.metadata is not None]


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our portable types as plain SQLAlchemy types, so versions never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, sa.JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


with database.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        render_as_batch=database.is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
