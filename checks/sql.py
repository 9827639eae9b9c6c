"""SQL pieces several checks share, written once.

Checks are set-based: each builds a fixed number of statements from these
expressions, whatever the portfolio size. Everything here compiles on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import GenericFunction

from checks.schema import (
    Contact, Contract, ConversationHistory, Offer, Property, PropertyNote,
)
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.task import CheckContext


class greatest(GenericFunction[Any]):
    """The largest of its arguments: GREATEST on PostgreSQL, multi-argument MAX on SQLite.

    Arguments must not be NULL (SQLite's MAX would return NULL): wrap
    optional ones in COALESCE.
    """

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(greatest)
def _greatest_default(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


def session_of(ctx: CheckContext) -> Session:
    """The run's transaction: synchronous checks always get one from the engine."""
    if ctx.session is None:
        raise RuntimeError(f"{ctx.task} is a synchronous check and needs the run's session")
    return ctx.session


def utc(moment: datetime) -> Any:
    """A time as a bound value of the UTC column type, so SQLite compares it as stored."""
    return literal(moment, UTCDateTime())


def count_of(session: Session, population: Select[Any]) -> int:
    """How many rows a rule looked at: its population before the time test, for the metrics."""
    return int(session.scalar(select(func.count()).select_from(population.subquery())) or 0)


def in_scope(query: Select[Any], ctx: CheckContext) -> Select[Any]:
    """Limit a query that involves `properties` to HEARTBEAT_AGENT_ID's portfolio, when set."""
    if ctx.settings.agent_id is None:
        return query
    return query.where(Property.agent_id == ctx.settings.agent_id)


def open_property() -> ColumnElement[bool]:
    """A property still in the pipeline: everything the agent can still act on."""
    return Property.status != "complete"


def last_activity(property_: type[Property] | Any = Property) -> ColumnElement[datetime]:
    """A property's latest activity (domain.md), as a correlated expression.

    The latest of its conversation_history rows, its notes, its contracts'
    created/sent/completed times, its offers' created times, and its own
    created_at. Each part is an index lookup on (property_id, created_at).
    """
    pid, created = property_.id, property_.created_at

    def latest(column: Any, owner: Any) -> Any:
        return func.coalesce(select(func.max(column)).where(owner == pid).scalar_subquery(), created)

    return greatest(
        created,
        latest(ConversationHistory.created_at, ConversationHistory.property_id),
        latest(PropertyNote.created_at, PropertyNote.property_id),
        latest(Contract.created_at, Contract.property_id),
        latest(Contract.sent_at, Contract.property_id),
        latest(Contract.completed_at, Contract.property_id),
        latest(Offer.created_at, Offer.property_id),
        type_=UTCDateTime(),
    )


def quiet_before(cutoff: Any) -> ColumnElement[bool]:
    """`last_activity() < cutoff`, said as "every part of it is before cutoff".

    Same rule, but the database can stop at the first recent part instead of
    looking up all of a property's activity: most properties are busy, so
    most are ruled out by their first lookup.
    """
    return and_(*(part < cutoff for part in last_activity().clauses))


# --- interactions with contacts -----------------------------------------------------

NOTE, CONTRACT, OFFER = "note", "contract", "offer"


def interactions(since: datetime | None = None, contact_ids: Select[Any] | None = None) -> Any:
    """Every interaction with a contact (domain.md), one row each.

    Columns: contact_id, at, kind ('note' | 'contract' | 'offer'), is_response.
    A note counts when it is on the contact's property and mentions the
    contact's name, whatever the case; a contract linked to the contact
    counts at each of its created, sent and completed times; an offer counts
    when the contact is its buyer. Responses: phone-call notes, contracts
    that reached in_progress or completed, offers the contact submitted.
    `since` bounds the scan; `contact_ids` limits it to some contacts.
    """
    def bounded(query: Select[Any], at: Any, contact: Any) -> Select[Any]:
        if since is not None:
            query = query.where(at >= since)
        if contact_ids is not None:
            query = query.where(contact.in_(contact_ids))
        return query

    notes = bounded(
        select(
            Contact.id.label("contact_id"), PropertyNote.created_at.label("at"), literal(NOTE).label("kind"),
            (PropertyNote.source == "phone_call").label("is_response"),
        )
        .join(PropertyNote, PropertyNote.property_id == Contact.property_id)
        .where(func.lower(PropertyNote.content).contains(func.lower(Contact.name))),
        PropertyNote.created_at, Contact.id,
    )
    reached = Contract.status.in_(("in_progress", "completed"))
    contract_parts = [
        bounded(
            select(Contract.contact_id.label("contact_id"), column.label("at"), literal(CONTRACT).label("kind"),
                   response.label("is_response"))
            .where(Contract.contact_id.is_not(None), column.is_not(None)),
            column, Contract.contact_id,
        )
        for column, response in (
            (Contract.created_at, literal(False)),
            (Contract.sent_at, literal(False)),
            (Contract.completed_at, reached),
        )
    ]
    offers = bounded(
        select(Offer.buyer_contact_id.label("contact_id"), Offer.created_at.label("at"), literal(OFFER).label("kind"),
               (Offer.submitted_at.is_not(None)).label("is_response"))
        .where(Offer.buyer_contact_id.is_not(None)),
        Offer.created_at, Offer.buyer_contact_id,
    )
    return union_all(notes, *contract_parts, offers).subquery("interactions")


__all__ = [
    "CONTRACT", "NOTE", "OFFER", "count_of", "greatest", "in_scope", "interactions", "last_activity",
    "open_property", "quiet_before", "session_of", "utc",
]
