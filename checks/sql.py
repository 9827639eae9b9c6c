"""SQL pieces several checks share, written once.

Checks are set-based: each builds a fixed number of statements from these
expressions, whatever the portfolio size. Everything here compiles on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean, ColumnElement, Float, Integer, Numeric, Select, Subquery, and_, case, cast, exists, func,
    literal, or_, select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement, GenericFunction

from checks.schema import (
    Contact, Contract, ConversationHistory, Notification, Offer, Property, PropertyNote,
)
from heartbeat_mcp.sqltypes import JSONDocument, UTCDateTime
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


class latest_present(GenericFunction[Any]):
    """The largest of its arguments that are not NULL; NULL when all are.

    GREATEST on PostgreSQL (which skips NULLs); on SQLite, whose
    multi-argument MAX returns NULL as soon as one argument is NULL, the
    aggregate MAX over the arguments as rows. Each argument appears once,
    so a correlated subquery among them is evaluated once.
    """

    inherit_cache = True


@compiles(latest_present, "sqlite")
def _latest_present_sqlite(element: latest_present, compiler: Any, **kw: Any) -> str:
    rows = " UNION ALL ".join(f"SELECT {compiler.process(arg, **kw)} AS value" for arg in element.clauses)
    return f"(SELECT max(value) FROM ({rows}))"


@compiles(latest_present)
def _latest_present_default(element: latest_present, compiler: Any, **kw: Any) -> str:
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


def notification_in_scope(query: Select[Any], ctx: CheckContext) -> Select[Any]:
    """Limit a query over notifications (outer-joined to their property) to HEARTBEAT_AGENT_ID's.

    A notification belongs to its agent_id, or else to the agent of its
    property: `in_scope` alone would drop watchlist matches, which name an
    agent but often no single property.
    """
    if ctx.settings.agent_id is None:
        return query
    return query.where(func.coalesce(Notification.agent_id, Property.agent_id) == ctx.settings.agent_id)


def in_scope(query: Select[Any], ctx: CheckContext) -> Select[Any]:
    """Limit a query that involves `properties` to HEARTBEAT_AGENT_ID's portfolio, when set."""
    if ctx.settings.agent_id is None:
        return query
    return query.where(Property.agent_id == ctx.settings.agent_id)


def open_property() -> ColumnElement[bool]:
    """A property still in the pipeline: everything the agent can still act on."""
    return Property.status != "complete"


# What a property's activity is made of besides its own created_at (domain.md):
# each kind's time column and the column naming its property. The most
# frequent kinds come first, so `quiet_before` usually stops at its first
# lookup; a table's first column is never NULL.
ACTIVITY_TIMES = (
    (PropertyNote.created_at, PropertyNote.property_id),
    (ConversationHistory.created_at, ConversationHistory.property_id),
    (Contract.created_at, Contract.property_id),
    (Contract.sent_at, Contract.property_id),
    (Contract.completed_at, Contract.property_id),
    (Offer.created_at, Offer.property_id),
)


def last_activity(property_: type[Property] | Any = Property,
                  known: Mapping[str, ColumnElement[datetime]] | None = None) -> ColumnElement[datetime]:
    """A property's latest activity (domain.md), as a correlated expression.

    The latest of its conversation_history rows, its notes, its contracts'
    created/sent/completed times, its offers' created times, and its own
    created_at. One index lookup per table, on (property_id, created_at) or
    property_id: a contract's three times are read from the same row. For
    the few properties a check reports, or when a lookup per property is
    what the plan needs; over a whole period a grouped pass is cheaper
    (`activity_tallies`).

    `known` gives, by table name, the latest time of the property's events
    there (NULL when it has none) that the caller already reads in a pass
    grouped by property (`latest_event`): those tables are not looked up.
    For a small table the caller groups anyway, cheaper than a lookup per
    property.
    """
    pid, created = property_.id, property_.created_at
    given = known or {}

    def latest(owner: Any, columns: list[Any]) -> Any:
        found = given.get(owner.table.name)
        if found is None:
            found = select(func.max(_row_latest(columns))).where(owner == pid).scalar_subquery()
        return func.coalesce(found, created)

    return greatest(created, *(latest(owner, columns) for owner, columns in _activity_by_table()),
                    type_=UTCDateTime())


def latest_event(table: str) -> ColumnElement[datetime]:
    """The latest activity time of a group of `table`'s rows (an aggregate), for `last_activity(known=…)`."""
    columns = next(columns for owner, columns in _activity_by_table() if owner.table.name == table)
    return func.max(_row_latest(columns))


def _row_latest(columns: list[Any]) -> ColumnElement[datetime]:
    """The latest of a row's activity times: the first is never NULL, the others may be."""
    first, *others = columns
    return (greatest(first, *(func.coalesce(other, first) for other in others), type_=UTCDateTime())
            if others else first)


def quiet_before(cutoff: Any) -> ColumnElement[bool]:
    """`last_activity() < cutoff`, said as "every part of it is before cutoff".

    Same rule, but the database can stop at the first recent part instead of
    looking up all of a property's activity: most properties are busy, so
    most are ruled out by their first lookup.
    """
    return and_(*(part < cutoff for part in last_activity().clauses))


# --- interactions with contacts -----------------------------------------------------

NOTE, CONTRACT, OFFER = "note", "contract", "offer"

# The interactions linked to a contact by id (domain.md): each kind's time
# column, the column naming the contact, and when it is a response.
LINKED_INTERACTIONS = (
    (CONTRACT, Contract.created_at, Contract.contact_id, literal(False)),
    (CONTRACT, Contract.sent_at, Contract.contact_id, literal(False)),
    (CONTRACT, Contract.completed_at, Contract.contact_id, Contract.status.in_(("in_progress", "completed"))),
    (OFFER, Offer.created_at, Offer.buyer_contact_id, Offer.submitted_at.is_not(None)),
)
NOTE_RESPONSE_SOURCE = "phone_call"


def _within(at: Any, since: Any = None, until: Any = None, after: Any = None) -> list[ColumnElement[bool]]:
    """`at` is at or after `since`, strictly after `after`, and at or before `until` (each bound optional)."""
    bounds = [(since, at.__ge__), (after, at.__gt__), (until, at.__le__)]
    return [compare(bound) for bound, compare in bounds if bound is not None]


def named_in_notes(contacts: Select[Any] | None, *notes: ColumnElement[bool]) -> Select[Any]:
    """One row (note_id, contact_id, at, is_response) per note and contact of its property that it names.

    `contacts` (a query selecting Contact.id; all contacts without it) are
    matched against the notes meeting the `notes` conditions. A note names a
    contact when its content contains the contact's name, whatever the case
    (domain.md); it is a response when it records a phone call; `at` is
    when it was written. Matching names in notes is the expensive part of
    interactions — one test per note and contact of its property — so each
    note is lowered once (`computed_once`), and the test is a plain
    substring search (`found_in`), not a LIKE pattern rebuilt for every
    pair. The contacts are joined by property to the notes: on SQLite each
    contact's notes through (property_id, created_at); on PostgreSQL by
    hashing, or through the contacts' property index when the notes are
    few (the names are then lowered per pair, which is cheap).
    """
    columns = (Contact.id, Contact.property_id, func.lower(Contact.name).label("name"))
    who = (contacts.with_only_columns(*columns) if contacts is not None else select(*columns)).subquery("who")
    read = computed_once(
        select(PropertyNote.id, PropertyNote.property_id, PropertyNote.created_at.label("at"), PropertyNote.source,
               func.lower(PropertyNote.content).label("text"))
        .where(*notes)
    ).subquery("notes")
    return (
        select(read.c.id.label("note_id"), who.c.id.label("contact_id"), read.c.at,
               (read.c.source == NOTE_RESPONSE_SOURCE).label("is_response"))
        .select_from(who)
        .join(read, read.c.property_id == who.c.property_id)
        .where(found_in(read.c.text, who.c.name))
    )


def interaction_totals(contacts: Select[Any], since: Any, until: Any, mentions: Subquery,
                       among: Select[Any] | None = None) -> Select[Any]:
    """`contacts` (a query selecting Contact.id) with the totals of their interactions from `since` to `until`.

    Added columns: interactions (how many), responses, last_at (the latest;
    NULL with none) and kinds (how many of note, contract, offer occur).
    An interaction (domain.md) is a note on the contact's property naming
    them, a contract linked to them at each of its created, sent and
    completed times, or an offer with them as buyer; responses are
    phone-call notes, contracts that reached in_progress or completed, and
    offers the contact submitted. Each kind is grouped per contact as its
    table is read — the notes naming them, then contracts and offers in one
    pass each (a contract's created, sent and completed times from the same
    row) — and the groups are joined to the contacts: no row per
    interaction is ever produced, and grouping three small sets costs less
    than one large one.

    `mentions` (contact_id, at, is_response: one row per note naming a
    contact, from `since` to `until`) are the notes, as `named_in_notes`
    finds them; it may name other contacts too. `among` (contact ids, for a
    few of them) limits the contracts and offers read to those contacts'.
    """
    # Every time counted is at or after `since`, so `since` stands for "none" wherever a latest time is taken.
    floor = since
    per_kind = [
        select(mentions.c.contact_id, func.count().label("interactions"),
               func.sum(case((mentions.c.is_response, 1), else_=0)).label("responses"),
               func.max(mentions.c.at).label("last_at"))
        .group_by(mentions.c.contact_id)
        .subquery("noted_totals")
    ]
    for kind, parts in _linked_by_table():
        contact = parts[0][1]
        inside = [and_(at.is_not(None), *_within(at, since, until)) for at, _, _ in parts]
        row_latest = [func.coalesce(case((seen, at)), floor) for seen, (at, _, _) in zip(inside, parts)]
        per_kind.append(
            select(contact.label("contact_id"),
                   func.sum(sum((case((seen, 1), else_=0) for seen in inside), literal(0))).label("interactions"),
                   func.sum(sum((case((and_(seen, response), 1), else_=0)
                                 for seen, (_, _, response) in zip(inside, parts)), literal(0))).label("responses"),
                   # Each row has a time in the period (the WHERE), so its latest is one of them.
                   func.max(greatest(*row_latest, type_=UTCDateTime()) if len(row_latest) > 1 else row_latest[0])
                   .label("last_at"))
            .where(contact.is_not(None), or_(*inside), *([contact.in_(among)] if among is not None else []))
            .group_by(contact)
            .subquery(f"{kind}_totals")
        )
    query = contacts
    for totals in per_kind:
        query = query.outerjoin(totals, totals.c.contact_id == Contact.id)
    kinds = sum((case((totals.c.contact_id.is_not(None), 1), else_=0) for totals in per_kind), literal(0))
    return query.add_columns(
        sum((func.coalesce(totals.c.interactions, 0) for totals in per_kind), literal(0)).label("interactions"),
        sum((func.coalesce(totals.c.responses, 0) for totals in per_kind), literal(0)).label("responses"),
        case((kinds > 0, greatest(*(func.coalesce(totals.c.last_at, floor) for totals in per_kind),
                                  type_=UTCDateTime())), else_=None).label("last_at"),
        kinds.label("kinds"),
    )


def _linked_by_table() -> list[tuple[str, list[tuple[Any, Any, Any]]]]:
    """LINKED_INTERACTIONS by kind, one table each: (kind, [(time column, contact column, is_response), …])."""
    return [(kind, [(at, contact, response) for _, at, contact, response in group])
            for kind, group in groupby(LINKED_INTERACTIONS, key=lambda part: part[0])]


def last_interaction(since: Any = None, until: Any = None) -> ColumnElement[datetime]:
    """A contact's latest interaction from `since` to `until` (both included), correlated to `contacts`.

    NULL when there is none. The rule of `interaction_totals`, for a handful of
    contacts: one index lookup per kind and contact — the notes of the
    contact's property on (property_id, created_at), contracts and offers
    on the contact's id.
    """
    mentioned = (
        select(func.max(PropertyNote.created_at))
        .where(PropertyNote.property_id == Contact.property_id,
               found_in(func.lower(PropertyNote.content), func.lower(Contact.name)),
               *_within(PropertyNote.created_at, since, until))
        .scalar_subquery()
    )
    latest = [mentioned] + [
        select(func.max(at)).where(contact == Contact.id, *_within(at, since, until)).scalar_subquery()
        for _, at, contact, _ in LINKED_INTERACTIONS
    ]
    return latest_present(*latest, type_=UTCDateTime())


def no_interaction(since: Any = None, until: Any = None, after: Any = None) -> ColumnElement[bool]:
    """True when a contact (correlated to `contacts`) had no interaction in the period.

    `since` and `until` are included, `after` is not (each optional).

    The rule of `interaction_totals`, asked per contact and table as NOT
    EXISTS: a lookup stops at the first interaction it finds — the
    contracts (a contract's created, sent and completed times from the same
    row) and offers on the contact's id first, then the notes of the
    contact's property through (property_id, created_at) — and PostgreSQL
    can turn each into an anti-join. For "silent since" rules, where most contacts
    were heard from and need not be read to the end.
    """
    linked = [
        ~exists().where(parts[0][1] == Contact.id,
                        or_(*(and_(*_within(at, since, until, after)) for at, _, _ in parts)))
        for _, parts in _linked_by_table()
    ]
    mentioned = exists().where(
        PropertyNote.property_id == Contact.property_id,
        *_within(PropertyNote.created_at, since, until, after),
        found_in(func.lower(PropertyNote.content), func.lower(Contact.name)),
    )
    return and_(*linked, ~mentioned)


# --- JSON built in SQL ---------------------------------------------------------------


class json_object(GenericFunction[Any]):
    """A JSON object from alternating keys and values: json_object on SQLite, jsonb_build_object on PostgreSQL."""

    type = JSONDocument
    inherit_cache = True


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"jsonb_build_object({compiler.process(element.clauses, **kw)})"


class json_value(GenericFunction[Any]):
    """A JSON column as a value inside `json_object`: SQLite would embed the stored text as a string otherwise."""

    type = JSONDocument
    inherit_cache = True


@compiles(json_value, "sqlite")
def _json_value_sqlite(element: json_value, compiler: Any, **kw: Any) -> str:
    return f"json({compiler.process(element.clauses, **kw)})"


@compiles(json_value)
def _json_value_default(element: json_value, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def json_from(values: dict[str, Any]) -> json_object:
    """A JSON object built in SQL from named SQL values."""
    return json_object(*(part for key, value in values.items() for part in (literal(key), value)))


# --- counting, elapsed time and rounding ---------------------------------------------


def _activity_by_table() -> list[tuple[Any, list[Any]]]:
    """ACTIVITY_TIMES by table: (the column naming the property, the table's time columns)."""
    return [(parts[0][1], [column for column, _ in parts])
            for parts in (list(group) for _, group in groupby(ACTIVITY_TIMES, key=lambda part: part[1].table.name))]


class ActivityTally(NamedTuple):
    """How one table's rows count towards its property's activity counts (`activity_tallies`)."""

    owner: Any  # the column naming the property
    counts: dict[str, ColumnElement[int]]  # per condition, the aggregate counting the table's events that meet it
    in_period: ColumnElement[bool]  # whether a row has an event in the period: the WHERE of a pass for them alone


def activity_tallies(since: Any, conditions: dict[str, Callable[[Any], ColumnElement[bool]]]) -> list[ActivityTally]:
    """How many of each property's events at or after `since` meet each named condition (a function of the time).

    One tally per table of activity (`ACTIVITY_TIMES`): aggregates for a
    pass over the table grouped by property (the caller's, so that a table
    it already groups for other facts is read once), and the row condition
    that limits such a pass to the period — along the (property_id, …)
    index on SQLite, by hashing on PostgreSQL. Each pass is joined to the
    properties on its own: adding the tables' counts up per property row
    costs nothing, where regrouping their union would hash every (table,
    property) pair once more. The property's own creation is counted by
    `own_activity`.
    """
    return [
        ActivityTally(owner, {name: func.sum(_tally(since, columns, condition))
                              for name, condition in conditions.items()},
                      and_(owner.is_not(None), or_(*(by_owner_index(column) >= since for column in columns))))
        for owner, columns in _activity_by_table()
    ]


def own_activity(since: Any, condition: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[int]:
    """1 when the property's own creation is an event at or after `since` meeting `condition`, else 0."""
    return _tally(since, [Property.created_at], condition)


def _tally(since: Any, columns: list[Any], condition: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[int]:
    """How many of a row's times are at or after `since` and meet `condition`."""
    return sum((case((and_(column >= since, condition(column)), 1), else_=0) for column in columns), literal(0))


class days_between(FunctionElement[float]):
    """Fractional days from the second argument (earlier) to the first (later) time.

    julianday() difference on SQLite (times are stored as UTC text), epoch
    seconds / 86400 on PostgreSQL.
    """

    type = Float()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between)
def _days_between_default(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0 AS DOUBLE PRECISION)"


class seconds_between(FunctionElement[float]):
    """Seconds from the second argument (earlier) to the first (later) time, as a float.

    Whole seconds are exact on PostgreSQL (epoch of the interval, never a
    numeric); on SQLite, from julianday() like `days_between`.
    """

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    return f"({_days_between_sqlite(element, compiler, **kw)} * 86400.0)"


@compiles(seconds_between)
def _seconds_between_default(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"date_part('epoch', {later} - {earlier})"


class half_up(FunctionElement[float]):
    """A value of 0 or more rounded to the nearest whole number, halves up (as a decimal rounds them).

    floor(x + 0.5) on PostgreSQL, whose round() of a float takes halves to
    the even number; SQLite's cast to an integer, which truncates, where
    floor() is not always built in.
    """

    type = Float()
    inherit_cache = True
    name = "half_up"


@compiles(half_up, "sqlite")
def _half_up_sqlite(element: half_up, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) + 0.5 AS INTEGER)"


@compiles(half_up)
def _half_up_default(element: half_up, compiler: Any, **kw: Any) -> str:
    return f"floor(({compiler.process(element.clauses, **kw)}) + 0.5)"


class json_list_length(FunctionElement[int]):
    """The number of entries of a JSON list; 0 for JSON null or anything that is not a list."""

    type = Integer()
    inherit_cache = True
    name = "json_list_length"


@compiles(json_list_length, "sqlite")
def _json_list_length_sqlite(element: json_list_length, compiler: Any, **kw: Any) -> str:
    return f"coalesce(json_array_length({compiler.process(element.clauses, **kw)}), 0)"


@compiles(json_list_length)
def _json_list_length_default(element: json_list_length, compiler: Any, **kw: Any) -> str:
    document = compiler.process(element.clauses, **kw)
    return f"(CASE WHEN jsonb_typeof({document}) = 'array' THEN jsonb_array_length({document}) ELSE 0 END)"


def rounded(value: Any, digits: int = 1) -> ColumnElement[float]:
    """`value` rounded to `digits` decimals, as a float on both databases.

    PostgreSQL rounds only numerics, hence the casts; rounding in SQL lets a
    stored score be compared with a recomputed one without float noise.
    """
    return cast(func.round(cast(value, Numeric), digits), Float)


# --- computing once, finding text ------------------------------------------------------


class temporary_table_as(Executable, ClauseElement):
    """CREATE TEMPORARY TABLE `name` AS `query`: a result computed once, for the statements of a run that use it.

    The table lives in the run's session until dropped (on both databases a
    rollback takes it too): the run drops it before it ends. PostgreSQL may
    compute `query` with parallel workers, as it would a plain SELECT, which
    it never does for an INSERT … SELECT.
    """

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name, self.query = name, query


@compiles(temporary_table_as)
def _temporary_table_as(element: temporary_table_as, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


def computed_once(query: Select[Any]) -> Select[Any]:
    """`query` as a subquery whose expressions are computed once per row of it, on PostgreSQL.

    PostgreSQL pulls a plain subquery up into the query around it and then
    evaluates a projected expression (a lower(), a CASE) wherever it is
    used — once per joined pair when it sits in a join condition. OFFSET 0
    keeps the subquery a step of its own. SQLite would copy such a subquery
    into a temporary table, so it gets the plain one (its plans read the
    joined rows through indexes one by one anyway).
    """
    return query.suffix_with("OFFSET 0", dialect="postgresql")


class by_owner_index(FunctionElement[Any]):
    """A column whose condition SQLite must not answer from an index of its own (unary +, SQLite's idiom).

    For joins SQLite should drive from the other side: the contacts first,
    then each one's notes through (property_id, created_at), rather than
    every note of the period through (created_at, property_id) and a
    contact lookup per note. PostgreSQL plans such joins by cost (a hash
    join) and gets the plain column.
    """

    inherit_cache = True
    name = "by_owner_index"

    @property
    def type(self) -> Any:  # type: ignore[override]
        return self.clauses.clauses[0].type


@compiles(by_owner_index, "sqlite")
def _by_owner_index_sqlite(element: by_owner_index, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(by_owner_index)
def _by_owner_index_default(element: by_owner_index, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class found_in(FunctionElement[bool]):
    """Whether the first text contains the second: instr on SQLite, strpos on PostgreSQL.

    A plain substring test: unlike LIKE, a % or _ in the searched text is
    just a character, and there is no pattern to build per row.
    """

    type = Boolean()
    inherit_cache = True
    name = "found_in"


@compiles(found_in, "sqlite")
def _found_in_sqlite(element: found_in, compiler: Any, **kw: Any) -> str:
    text, part = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(instr({text}, {part}) > 0)"


@compiles(found_in)
def _found_in_default(element: found_in, compiler: Any, **kw: Any) -> str:
    text, part = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(strpos({text}, {part}) > 0)"


__all__ = [
    "ACTIVITY_TIMES", "CONTRACT", "NOTE", "OFFER", "ActivityTally", "activity_tallies",
    "computed_once", "count_of", "days_between", "found_in", "greatest", "half_up", "in_scope",
    "interaction_totals", "json_from", "json_list_length", "json_object", "json_value",
    "last_activity", "last_interaction", "latest_event", "latest_present", "named_in_notes", "no_interaction",
    "notification_in_scope", "open_property", "own_activity", "quiet_before", "rounded",
    "seconds_between", "session_of", "temporary_table_as", "utc",
]
