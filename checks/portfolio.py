"""Portfolio monitoring: is every listing moving, and is its paperwork on time?

Five checks on the base cycle. They watch properties that are not complete:
a closed deal's leftover drafts or deadlines are clutter, not something the
agent can still act on, so a `complete` property never shows up here.

Every check issues a fixed number of statements: one count of the
population it looked at (the `rows_examined` metric) and one query for the
findings, filtered in SQL; `pipeline_advancement` adds one compare-and-set
UPDATE per pipeline step and two bulk inserts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from checks.registry import BASE_CYCLE, PORTFOLIO, check
from checks.schema import (
    PIPELINE_STAGES, STALE_AFTER_DAYS, UNSIGNED_CONTRACT_STATUSES, Contact, Contract, ConversationHistory,
    Notification, Property, PropertyNote, SkipTrace, ZillowEnrichment,
)
from checks.spoken import spoken_age, spoken_days
from checks.sql import (
    by_owner_index, computed_once, count_of, greatest, in_scope, last_activity, open_property, quiet_before,
    session_of, utc,
)
from heartbeat_mcp.models import TaskConfig
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

# A required contract in one of these is settled: no deadline or signature to chase.
CLOSED_CONTRACT_STATUSES = ("completed", "cancelled", "expired", "archived")
DEADLINE_WARNING = timedelta(days=3)
UNSIGNED_AFTER = timedelta(days=3)
HIGH_SCORE = 80.0
HIGH_SCORE_QUIET = timedelta(days=3)
MANUAL_HOLD = timedelta(hours=24)

# How each stage is said aloud, as the listings in it.
STAGE_LISTINGS = {
    "new_property": "new listings",
    "enriched": "enriched listings",
    "researched": "researched listings",
    "waiting_for_contracts": "listings waiting for contracts",
}
STAGE_SPOKEN = {
    "new_property": "new",
    "enriched": "enriched",
    "researched": "researched",
    "waiting_for_contracts": "waiting for contracts",
    "complete": "complete",
}
# What moves a property out of each stage, as the agent would do it.
STALE_NEXT_STEPS = {
    "new_property": "Pull the Zillow data for it, or call the seller",
    "enriched": "Run a skip trace on the owner",
    "researched": "Draft the listing or purchase agreement",
    "waiting_for_contracts": "Chase the missing signatures",
}
UNSIGNED_SPOKEN = {
    "draft": "is still a draft",
    "sent": "was sent but is not signed",
    "in_progress": "is only partly signed",
    "pending_signature": "is still waiting for signatures",
}


# --- stale_properties ----------------------------------------------------------------


@check("stale_properties", read_only=True, group=PORTFOLIO, schedule=BASE_CYCLE,
       description="Flag properties with no activity past their stage's threshold")
def stale_properties(ctx: CheckContext) -> CheckResult:
    """A property not complete whose last activity is older than its stage's threshold.

    Thresholds (days without activity): new_property 3, enriched 5,
    researched 7, waiting_for_contracts 10 — STALE_AFTER_DAYS, overridable per
    stage through the check's option `stale_after_days`. Quiet for longer than
    the threshold → medium; longer than twice the threshold → high. Exactly
    at a threshold is not past it. A property in a status the pipeline does
    not know has no threshold and is left alone. Activity is domain.md's
    (sql.last_activity).

    Most properties have a note within the shortest threshold, which rules
    them out whatever their stage: they are set aside first, in one pass
    over that period's notes (a hash anti-join on PostgreSQL, kept apart by
    `computed_once` so it runs before the lookups), and only the few left
    have their activity looked up table by table. Looked up for every
    property, PostgreSQL spent twice SQLite's time on the lookups alone
    (each one a subplan run through its executor). Statements: one read of
    the findings, one count of the population.
    """
    session = session_of(ctx)
    thresholds = _stale_thresholds(ctx)
    quiet_since = case(
        {stage: utc(ctx.now - timedelta(days=limit)) for stage, limit in thresholds.items()}, value=Property.status,
    )
    population = in_scope(select(Property.id).where(open_property(), Property.status.in_(thresholds)), ctx)
    # A note since the latest cutoff (the shortest threshold's) rules a property out whatever its stage.
    without_recent_notes = computed_once(population.where(~exists().where(
        PropertyNote.property_id == Property.id,
        PropertyNote.created_at >= utc(ctx.now - timedelta(days=min(thresholds.values()))),
    ))).subquery("without_recent_notes")
    last = last_activity()
    rows = session.execute(
        select(Property.id, Property.address, Property.status, last.label("last_activity"))
        .join(without_recent_notes, without_recent_notes.c.id == Property.id)
        .where(quiet_before(quiet_since))
        .order_by(last, Property.id)
    ).all()
    items = []
    for row in rows:
        limit = thresholds[row.status]
        quiet = ctx.now - row.last_activity
        items.append(ActionItem(
            subject=f"property:{row.id}",
            priority=Priority.high if quiet > timedelta(days=2 * limit) else Priority.medium,
            message=(f"{row.address} has had no activity in {spoken_days(quiet.days)}, "
                     f"past the {limit}-day limit for {STAGE_LISTINGS[row.status]}."),
            next_step=STALE_NEXT_STEPS[row.status],
            affected={"properties": [row.id]},
            data={"stage": row.status, "days_quiet": quiet.days, "threshold_days": limit},
        ))
    return _result(items, count_of(session, population))


def _stale_thresholds(ctx: CheckContext) -> dict[str, float]:
    overrides: Mapping[str, float] = ctx.options.get("stale_after_days", {})
    return {**STALE_AFTER_DAYS, **{stage: days for stage, days in overrides.items() if stage in STALE_AFTER_DAYS}}


# --- contract_deadlines --------------------------------------------------------------


@check("contract_deadlines", read_only=True, group=PORTFOLIO, schedule=BASE_CYCLE,
       description="Warn about required contracts near or past their deadline")
def contract_deadlines(ctx: CheckContext) -> CheckResult:
    """Required, unsettled contracts whose required_by_date is past or within 3 days.

    Unsettled: any status but completed, cancelled, expired and archived.
    Past the deadline → urgent; due within the next 3 days (inclusive) →
    high. Days are counted on the agent's calendar (HEARTBEAT_TIMEZONE), the
    way people say them: "due tomorrow", "overdue by 2 days", and a deadline
    that passed earlier today is "was due earlier today" rather than
    "overdue by 0 days".
    """
    session = session_of(ctx)
    population = _required_contracts(ctx).where(
        Contract.status.not_in(CLOSED_CONTRACT_STATUSES), Contract.required_by_date.is_not(None),
    )
    rows = session.execute(
        _with_names(population).add_columns(Contract.required_by_date)
        .where(Contract.required_by_date <= ctx.now + DEADLINE_WARNING)
        .order_by(Contract.required_by_date, Contract.id)
    ).all()
    zone = ZoneInfo(ctx.settings.timezone)
    today = ctx.now.astimezone(zone).date()
    items = []
    for row in rows:
        overdue = row.required_by_date < ctx.now
        items.append(ActionItem(
            subject=f"contract:{row.id}",
            priority=Priority.urgent if overdue else Priority.high,
            message=f"{_contract_phrase(row)} {_deadline_phrase(today, row.required_by_date.astimezone(zone).date(), overdue)}.",
            next_step=(f"Call {row.contact_name or 'the signers'} to get it signed or agree a new deadline" if overdue
                       else f"Get {row.contact_name or 'the signers'} to sign before the deadline"),
            affected=_contract_affected(row),
            data={"overdue": overdue, "required_by": row.required_by_date.isoformat()},
        ))
    return _result(items, count_of(session, population))


def _deadline_phrase(today: date, due: date, overdue: bool) -> str:
    """When a contract is due, counted in the agent's calendar days."""
    if overdue:
        return f"is overdue by {spoken_days((today - due).days)}" if due < today else "was due earlier today"
    ahead = (due - today).days
    return {0: "is due today", 1: "is due tomorrow"}.get(ahead, f"is due in {spoken_days(ahead)}")


# --- unsigned_contracts --------------------------------------------------------------


@check("unsigned_contracts", read_only=True, group=PORTFOLIO, schedule=BASE_CYCLE,
       description="Flag required contracts still unsigned after three days")
def unsigned_contracts(ctx: CheckContext) -> CheckResult:
    """Required contracts in draft, sent, in_progress or pending_signature created more than 3 days ago.

    medium; high when the property is waiting_for_contracts, since then the
    deal itself waits on the signature. Exactly 3 days old is not yet "more
    than 3 days". The message says how far the contract got (still a draft,
    sent, partly signed) because that decides who to call.

    The contracts are read straight, not through the status index
    (`by_owner_index`): the unsigned statuses hold over a third of them, and
    SQLite fetching each one's row from the index costs several times a
    plain pass over the table. PostgreSQL plans it by cost either way.
    """
    session = session_of(ctx)
    population = _required_contracts(ctx).where(by_owner_index(Contract.status).in_(UNSIGNED_CONTRACT_STATUSES))
    rows = session.execute(
        _with_names(population).add_columns(Contract.status, Contract.created_at, Property.status.label("stage"))
        .where(Contract.created_at < ctx.now - UNSIGNED_AFTER)
        .order_by(Contract.created_at, Contract.id)
    ).all()
    items = []
    for row in rows:
        waiting = (ctx.now - row.created_at).days
        items.append(ActionItem(
            subject=f"contract:{row.id}",
            priority=Priority.high if row.stage == "waiting_for_contracts" else Priority.medium,
            message=f"{_contract_phrase(row)} {UNSIGNED_SPOKEN[row.status]} after {spoken_days(waiting)}.",
            next_step=("Send it out for signature" if row.status == "draft"
                       else f"Follow up with {row.contact_name or 'the signers'}"),
            affected=_contract_affected(row),
            data={"status": row.status, "days_unsigned": waiting},
        ))
    return _result(items, count_of(session, population))


def _required_contracts(ctx: CheckContext) -> Select[Any]:
    """Required contracts of the agent's properties that are not complete, by id."""
    return in_scope(
        select(Contract.id).join(Property, Property.id == Contract.property_id)
        .where(Contract.is_required.is_(True), open_property()),
        ctx,
    )


def _with_names(contracts: Select[Any]) -> Select[Any]:
    """Add what a message about a contract names: the contract, the address and the contact.

    The contact's name is looked up by id for each contract found, not
    joined: PostgreSQL takes the unsigned contracts older than three days
    for ten times as many as there are (young contracts are the unsigned
    ones) and would hash every contact of the portfolio to join them.
    """
    contact_name = select(Contact.name).where(Contact.id == Contract.contact_id).scalar_subquery()
    return contracts.add_columns(Contract.name, Contract.property_id, Contract.contact_id, Property.address,
                                 contact_name.label("contact_name"))


def _contract_phrase(row: Any) -> str:
    with_contact = f", with {row.contact_name}," if row.contact_name else ""
    return f"The {row.name} for {row.address}{with_contact}"


def _contract_affected(row: Any) -> dict[str, list[int]]:
    affected = {"properties": [row.property_id], "contracts": [row.id]}
    if row.contact_id is not None:
        affected["contacts"] = [row.contact_id]
    return affected


# --- pipeline_advancement ------------------------------------------------------------


@dataclass(frozen=True)
class _Move:
    property_id: int
    address: str
    agent_id: int
    from_stage: str
    to_stage: str


@check("pipeline_advancement", group=PORTFOLIO, schedule=BASE_CYCLE,
       description="Advance properties through the pipeline and report stuck automation")
def pipeline_advancement(ctx: CheckContext) -> CheckResult:
    """Move each property forward while the condition for its next stage holds; report stuck ones.

    Conditions (domain.md): new_property→enriched when a zillow_enrichments
    row exists; enriched→researched when a skip_traces row exists;
    researched→waiting_for_contracts when it has a contract;
    waiting_for_contracts→complete when it has a required contract and every
    required contract is completed.

    All the way in one run: a property enriched and skip-traced moves from
    new_property to researched at once, because the agent wants the
    pipeline to show where the deal really is, not to catch up over several
    cycles. Each step is one compare-and-set UPDATE (`WHERE status = <step's
    stage>`), run in pipeline order inside the run's transaction, so a
    property moved by one step is seen by the next. Concurrent runs on
    PostgreSQL cannot both move a property: candidates are locked with FOR
    UPDATE SKIP LOCKED, and the UPDATE only changes rows still in the
    step's stage; notification and log rows are written only for the ids the
    UPDATEs returned. A property that moved (one or several stages) gets ONE
    `pipeline_auto_advance` notification and ONE `heartbeat_pipeline_advance`
    conversation_history row naming both ends, and its updated_at is set.

    Manual hold: a property whose status was changed by hand in the last 24
    hours (a conversation_history row with tool_name update_property whose
    input_summary mentions "status", any case) is not moved.

    Stuck: a property still ready for its next stage after the advances
    (held by hand, or locked by another writer) that was already ready when
    the previous run of this check happened → high. "Ready since" is the
    later of the property's updated_at (a status change, by hand or by us,
    updates it) and the arrival of the evidence for its next stage (first
    Zillow row, first skip trace, first contract, last required contract
    completion); "the previous run" is heartbeat_config.last_run_at of this
    task. So a property is reported from the second run that finds it ready
    and unmoved; a first run ever reports nothing stuck.
    """
    session = session_of(ctx)
    hold_since = ctx.now - MANUAL_HOLD
    moves: dict[int, _Move] = {}
    for stage, next_stage in zip(PIPELINE_STAGES, PIPELINE_STAGES[1:]):
        for pid, address, agent_id in _advance(ctx, stage, next_stage, hold_since):
            first = moves.get(pid)
            moves[pid] = _Move(pid, address, agent_id, first.from_stage if first else stage, next_stage)
    _record_moves(session, ctx.now, list(moves.values()))
    held = session.execute(_held_but_ready(ctx, hold_since)).all()
    items = [_stuck_item(ctx.now, row) for row in held if row.previous_run and row.ready_since <= row.previous_run]
    result = _result(items, len(moves) + len(held), actions_taken=len(moves))
    result.data.update({
        "advanced": [{"property": m.property_id, "from": m.from_stage, "to": m.to_stage} for m in moves.values()],
        "held_by_hand": len(held),
    })
    return result


# What lets a property leave these stages: a row in the table (evidence from its first row).
_FIRST_ROW_ADVANCES = {"new_property": ZillowEnrichment, "enriched": SkipTrace, "researched": Contract}


def _ready_to_leave(stage: str) -> ColumnElement[bool]:
    """domain.md's condition for a property in `stage` to move to the next stage."""
    if stage in _FIRST_ROW_ADVANCES:
        return exists().where(_FIRST_ROW_ADVANCES[stage].property_id == Property.id)
    required = and_(Contract.property_id == Property.id, Contract.is_required.is_(True))
    return and_(exists().where(required), ~exists().where(required, Contract.status != "completed"))


def _ready_since(stage: str) -> Any:
    """When the evidence for leaving `stage` arrived (correlated to Property)."""
    if stage in _FIRST_ROW_ADVANCES:
        model = _FIRST_ROW_ADVANCES[stage]
        return select(func.min(model.created_at)).where(model.property_id == Property.id).scalar_subquery()
    return (
        select(func.max(func.coalesce(Contract.completed_at, Contract.updated_at)))
        .where(Contract.property_id == Property.id, Contract.is_required.is_(True))
        .scalar_subquery()
    )


def _status_changes_by_hand(since: datetime) -> Select[Any]:
    """Ids of properties whose status was changed by hand (voice tool update_property) after `since`."""
    return select(ConversationHistory.property_id).where(
        ConversationHistory.tool_name == "update_property",
        ConversationHistory.created_at > since,
        func.lower(ConversationHistory.input_summary).contains("status"),
    )


def _advance(ctx: CheckContext, stage: str, next_stage: str, hold_since: datetime) -> list[Any]:
    """Compare-and-set one pipeline step for every ready property; returns (id, address, agent_id) moved."""
    ready = in_scope(
        select(Property.id).where(
            Property.status == stage, _ready_to_leave(stage), Property.id.not_in(_status_changes_by_hand(hold_since)),
        ),
        ctx,
    ).with_for_update(skip_locked=True)
    return session_of(ctx).execute(
        update(Property)
        .where(Property.id.in_(ready.scalar_subquery()), Property.status == stage)
        .values(status=next_stage, updated_at=ctx.now)
        .returning(Property.id, Property.address, Property.agent_id)
        .execution_options(synchronize_session=False)
    ).all()


def _record_moves(session: Session, now: datetime, moves: list[_Move]) -> None:
    """One notification and one activity-log row per moved property, as two executemany INSERTs."""
    if not moves:
        return
    session.execute(insert(Notification), [
        {"type": "pipeline_auto_advance", "priority": "medium", "title": "Pipeline advanced",
         "message": f"{m.address} moved from {STAGE_SPOKEN[m.from_stage]} to {STAGE_SPOKEN[m.to_stage]}.",
         "property_id": m.property_id, "contact_id": None, "contract_id": None, "agent_id": m.agent_id,
         "data": {"from": m.from_stage, "to": m.to_stage}, "is_read": False, "is_dismissed": False, "created_at": now}
        for m in moves
    ])
    session.execute(insert(ConversationHistory), [
        {"session_id": "heartbeat", "property_id": m.property_id, "tool_name": "heartbeat_pipeline_advance",
         "input_summary": f"Advanced {m.address} from {m.from_stage} to {m.to_stage}", "created_at": now}
        for m in moves
    ])


def _held_but_ready(ctx: CheckContext, hold_since: datetime) -> Select[Any]:
    """Properties ready for their next stage but held by a manual status change, with when they became ready.

    Driven from the recent update_property rows (index on tool_name,
    created_at), so it reads a handful of properties, not the portfolio.
    """
    steps = PIPELINE_STAGES[:-1]
    evidence = case({stage: _ready_since(stage) for stage in steps}, value=Property.status)
    ready_since = greatest(Property.updated_at, func.coalesce(evidence, Property.updated_at), type_=UTCDateTime())
    previous_run = select(TaskConfig.last_run_at).where(TaskConfig.task_name == ctx.task).scalar_subquery()
    return in_scope(
        select(Property.id, Property.address, Property.status, ready_since.label("ready_since"),
               previous_run.label("previous_run"))
        .where(
            Property.id.in_(_status_changes_by_hand(hold_since)),
            or_(*(and_(Property.status == stage, _ready_to_leave(stage)) for stage in steps)),
        )
        .order_by(Property.id),
        ctx,
    )


def _stuck_item(now: datetime, row: Any) -> ActionItem:
    next_stage = PIPELINE_STAGES[PIPELINE_STAGES.index(row.status) + 1]
    move = f"from {STAGE_SPOKEN[row.status]} to {STAGE_SPOKEN[next_stage]}"
    return ActionItem(
        subject=f"property:{row.id}",
        priority=Priority.high,
        message=(f"{row.address} has been ready to move {move} for {spoken_age(now - row.ready_since)}, "
                 "but its status was set by hand in the last day, so I have left it."),
        next_step=f"Move it {move} yourself, or confirm it should stay {STAGE_SPOKEN[row.status]}",
        affected={"properties": [row.id]},
        data={"stage": row.status, "next_stage": next_stage, "ready_since": row.ready_since.isoformat()},
    )


# --- high_score_no_action ------------------------------------------------------------


@check("high_score_no_action", read_only=True, group=PORTFOLIO, schedule=BASE_CYCLE,
       description="Flag high-score properties with no contracts and no recent action")
def high_score_no_action(ctx: CheckContext) -> CheckResult:
    """A property not complete with deal_score ≥ 80, no contract at all and no activity in the last 3 days → high.

    Any contract, whatever its status, counts as action: even a cancelled
    one shows the deal was worked. Activity exactly 3 days ago is still
    "in the last 3 days". An unscored property (deal_score NULL) is not high.
    """
    session = session_of(ctx)
    population = in_scope(select(Property.id).where(open_property(), Property.deal_score >= HIGH_SCORE), ctx)
    last = last_activity()
    rows = session.execute(
        population.add_columns(Property.address, Property.deal_score, last.label("last_activity"))
        .where(~exists().where(Contract.property_id == Property.id), quiet_before(utc(ctx.now - HIGH_SCORE_QUIET)))
        .order_by(Property.deal_score.desc(), Property.id)
    ).all()
    items = [
        ActionItem(
            subject=f"property:{row.id}",
            priority=Priority.high,
            message=(f"{row.address} scores {round(row.deal_score)} but has no contracts "
                     f"and no activity in {spoken_days((ctx.now - row.last_activity).days)}."),
            next_step="Call the seller and get a listing agreement out",
            affected={"properties": [row.id]},
            data={"deal_score": row.deal_score, "days_quiet": (ctx.now - row.last_activity).days},
        )
        for row in rows
    ]
    return _result(items, count_of(session, population))


# --- shared by the checks above ------------------------------------------------------






def _result(items: list[ActionItem], examined: int, actions_taken: int = 0) -> CheckResult:
    return CheckResult(items=items, metrics={"rows_examined": examined, "actions_taken": actions_taken})

