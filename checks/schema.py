"""The realtor platform's tables, as the checks read them, plus the pack's own snapshots.

Names, columns and status values follow domain.md, the shared domain
contract (and through it the AI Realtor platform), so the heartbeat can later
be pointed at such a database.
Statuses are plain lower-case strings rather than enums or CHECK constraints:
the platform adds values over time, and a check must be able to read (and
ignore) a status it does not know instead of failing to load the row.

Prices are `Float`, not `Numeric`: the checks average prices and compare
percentages on both databases, SQLite has no decimal type (SQLAlchemy would
round-trip `Decimal` through float with a warning), and listing prices never
need sub-cent exactness.

Indexes exist for the checks' access paths (named on each table below) and
for the foreign keys that cascade, so deleting a property never scans a
child table. Nothing else is indexed: every index is paid for on each insert
of the busiest tables (notes, conversation history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from heartbeat_mcp.sqltypes import JSONDocument, UTCDateTime, new_metadata

PIPELINE_STAGES = ("new_property", "enriched", "researched", "waiting_for_contracts", "complete")
PROPERTY_TYPES = ("house", "condo", "townhouse", "apartment", "land", "commercial")
CONTACT_ROLES = (
    "buyer",
    "seller",
    "lawyer",
    "attorney",
    "lender",
    "mortgage_broker",
    "title_company",
    "inspector",
    "appraiser",
    "contractor",
    "tenant",
    "landlord",
    "property_manager",
    "other",
)
# The parties a deal cannot close without: they count for closing probability
# and are the contacts whose silence calls for outreach.
KEY_CONTACT_ROLES = ("buyer", "seller", "lawyer", "attorney", "lender")
CONTRACT_STATUSES = (
    "draft",
    "sent",
    "in_progress",
    "pending_signature",
    "completed",
    "cancelled",
    "expired",
    "archived",
)
# Still waiting for signatures: what deadline and unsigned-contract checks watch.
UNSIGNED_CONTRACT_STATUSES = ("draft", "sent", "in_progress", "pending_signature")
OFFER_STATUSES = ("draft", "submitted", "countered", "accepted", "rejected", "withdrawn", "expired")
TASK_TYPES = ("reminder", "recurring", "follow_up", "contract_check")
TASK_STATUSES = ("pending", "scheduled", "running", "completed", "cancelled", "failed")
PRIORITIES = ("low", "medium", "high", "urgent")
NOTE_SOURCES = ("voice", "manual", "ai", "phone_call", "system")
# Days without activity after which a property in each stage is stale (domain
# defaults; the check's configuration may override them).
STALE_AFTER_DAYS = {"new_property": 3, "enriched": 5, "researched": 7, "waiting_for_contracts": 10}
# Lowest deal_score of each grade, best first.
SCORE_GRADES = (("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 20.0), ("F", 0.0))


def score_grade(score: float) -> str:
    """The letter grade for a deal score (A ≥ 80, B ≥ 60, C ≥ 40, D ≥ 20, else F)."""
    return next(grade for grade, floor in SCORE_GRADES if score >= floor)


class RealtorBase(DeclarativeBase):
    metadata = new_metadata()


class Agent(RealtorBase):
    """A listing agent; "other agents' listings" in a city are the competition."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Property(RealtorBase):
    """A listing moving through the pipeline (`status` is its stage).

    (agent_id, status) serves the per-agent portfolio scans; (city, state,
    created_at, price) the market windows and competitive activity, read
    from the index alone; created_at alone the watchlists.
    """

    __tablename__ = "properties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(50))
    zip_code: Mapped[str] = mapped_column(String(10))
    price: Mapped[float] = mapped_column(Float)
    bedrooms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bathrooms: Mapped[float | None] = mapped_column(Float, nullable=True)
    square_feet: Mapped[int | None] = mapped_column(Integer, nullable=True)
    property_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    deal_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_grade: Mapped[str | None] = mapped_column(String(2), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_properties_agent_status", "agent_id", "status"),
        Index("ix_properties_city_state_created", "city", "state", "created_at", "price"),
        Index("ix_properties_created", "created_at"),
    )


class Contact(RealtorBase):
    """A party to one property's deal; its name is what notes mention."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # With the role, grouping contacts by property for their roles reads the index alone.
    __table_args__ = (Index("ix_contacts_property_role", "property_id", "role"),)


class Contract(RealtorBase):
    """A document to be signed; required ones gate the pipeline's last step.

    (status, required_by_date) finds open contracts with deadlines without
    reading the completed archive; contact_id serves interactions.
    """

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))
    is_required: Mapped[bool] = mapped_column(Boolean, default=False)
    required_by_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_contracts_property", "property_id"),
        Index("ix_contracts_contact", "contact_id"),
        Index("ix_contracts_status_required_by", "status", "required_by_date"),
    )


class Offer(RealtorBase):
    """A buyer's offer; the buyer may be a contact on the property or unknown."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    buyer_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True
    )
    offer_price: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_offers_property", "property_id"),
        Index("ix_offers_buyer_contact", "buyer_contact_id"),
    )


class ScheduledTask(RealtorBase):
    """A reminder, follow-up, recurring job or contract check the agent set up.

    (enabled, status, scheduled_at) finds due one-off tasks; (task_type,
    next_run_at) due recurring ones.
    """

    __tablename__ = "scheduled_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    repeat_interval_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    property_id: Mapped[int | None] = mapped_column(
        ForeignKey("properties.id", ondelete="CASCADE"), nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_scheduled_tasks_due", "enabled", "status", "scheduled_at"),
        Index("ix_scheduled_tasks_type_next_run", "task_type", "next_run_at"),
        Index("ix_scheduled_tasks_property", "property_id"),
    )


class Notification(RealtorBase):
    """What the agent is told; written by the platform and by autonomous actions.

    Every reference is nullable and survives the deletion of what it names:
    a notification is history. created_at serves the digest and delivery.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    priority: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    property_id: Mapped[int | None] = mapped_column(ForeignKey("properties.id", ondelete="SET NULL"), nullable=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id", ondelete="SET NULL"), nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    is_dismissed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notifications_created", "created_at"),)


class PropertyNote(RealtorBase):
    """A note on a property: activity, and an interaction with every contact it names.

    (property_id, created_at) answers "latest note per property" from the
    index; (created_at, property_id) reads one period's notes across the
    portfolio (activity over the last weeks, mentions of contacts) without
    the older history.
    """

    __tablename__ = "property_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_property_notes_property_created", "property_id", "created_at"),
        Index("ix_property_notes_created", "created_at", "property_id"),
    )


class ConversationHistory(RealtorBase):
    """The activity log: one row per voice or tool action.

    (property_id, created_at) gives a property's latest activity;
    (created_at, property_id) one period's activity across the portfolio;
    (tool_name, created_at) finds recent manual status changes
    (`update_property`) without reading the whole log.
    """

    __tablename__ = "conversation_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64))
    property_id: Mapped[int | None] = mapped_column(ForeignKey("properties.id", ondelete="SET NULL"), nullable=True)
    tool_name: Mapped[str] = mapped_column(String(100))
    input_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_conversation_history_property_created", "property_id", "created_at"),
        Index("ix_conversation_history_created", "created_at", "property_id"),
        Index("ix_conversation_history_tool_created", "tool_name", "created_at"),
    )


class ZillowEnrichment(RealtorBase):
    """Market data for a property; its existence means the property is enriched."""

    __tablename__ = "zillow_enrichments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    zestimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_zillow_enrichments_property", "property_id"),)


class SkipTrace(RealtorBase):
    """Owner research for a property; its existence means the property is researched."""

    __tablename__ = "skip_traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"))
    owner_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone_numbers: Mapped[list[str]] = mapped_column(JSONDocument)
    emails: Mapped[list[str]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_skip_traces_property", "property_id"),)


class MarketWatchlist(RealtorBase):
    """A saved search; new listings matching every criterion are reported once.

    `criteria` keys (all optional): city, state, min_price, max_price,
    min_bedrooms, min_bathrooms, property_type, min_sqft.
    """

    __tablename__ = "market_watchlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    match_count: Mapped[int] = mapped_column(Integer, default=0)
    last_matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RelationshipScoreSnapshot(RealtorBase):
    """A contact's relationship score from the time it took that value, so a cooling trend can be seen.

    Heartbeat-owned. A row is written only when a contact's score changes,
    and rows older than two days are deleted (through the scored_at index)
    except each contact's latest. (contact_id, scored_at, id, score) walks a
    contact's snapshots from the latest, in the order cooling compares them,
    and gives their scores without reading the table. contact_id names the
    platform's contact without a foreign key: writing snapshots takes no
    lock on contacts, readers join the contacts they watch, and the
    snapshots of a deleted contact go with the next expiry.
    """

    __tablename__ = "relationship_score_snapshots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_relationship_score_snapshots_contact_scored", "contact_id", "scored_at", "id", "score"),
        Index("ix_relationship_score_snapshots_scored", "scored_at"),
    )


class NoteMention(RealtorBase):
    """A recent note that names a contact of its property: the costly part of an interaction, found once.

    Heartbeat-owned, kept by relationship_scores for the notes of the last
    31 days. The note's created_at and whether it is a response (a phone
    call) are copied from it: notes are added and deleted, never edited. A
    deleted note takes its rows along (the only foreign key; the platform's
    deletes find them through the primary key, which also gives the newest
    note read). (contact_id, mentioned_at, is_response) counts a contact's
    mentions of a period from the index; mentioned_at lets old ones go.
    """

    __tablename__ = "note_mentions"

    note_id: Mapped[int] = mapped_column(ForeignKey("property_notes.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mentioned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_response: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_note_mentions_contact_mentioned", "contact_id", "mentioned_at", "is_response"),
        Index("ix_note_mentions_mentioned", "mentioned_at"),
    )


class ScoredContact(RealtorBase):
    """What relationship_scores last knew of a contact it scores: their latest scores, and whose mentions it has.

    Heartbeat-owned, one row per contact (no foreign key, like the
    snapshots). `score` is the contact's latest snapshot's score and
    `previous_score` the score of the one before it (NULL when there is
    none), kept with the snapshots: a run compares every score, and
    cooling_relationships finds every drop, without looking each contact's
    snapshots up. `property_id` and `name` (in lower case) are what the
    contact's mentions in note_mentions were found under: a contact whose
    property or name differs, or who has no row, has their notes read again.
    """

    __tablename__ = "scored_contacts"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    property_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    previous_score: Mapped[float | None] = mapped_column(Float, nullable=True)


class PropertySnapshot(RealtorBase):
    """What the heartbeat last observed of a property, so changes can be detected.

    Heartbeat-owned; one row per property (unique property_id), updated in
    place: only the latest observation is ever compared against.
    """

    __tablename__ = "property_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), unique=True)
    price: Mapped[float] = mapped_column(Float)
    deal_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    closing_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
