"""Deterministic demo and benchmark data: a realtor portfolio with planted problems.

`seed_portfolio` writes a realistic portfolio — agents in eight US cities,
properties in every pipeline stage, their contacts, contracts, offers, notes,
activity log, enrichments, skip traces, watchlists, scheduled tasks and
notifications — and plants, at a few percent each, the situations every check
in domain.md looks for, all relative to the given `now`. Everything else is
healthy, so a heartbeat run over it raises a realistic handful of alerts
rather than thousands.

The same (properties, seed, now) gives the same rows: each table draws from
its own `random.Random` seeded with the seed and the table's name, and no
value comes from the wall clock. Seeding a non-empty database appends: ids
continue after the largest present.

Speed: rows are generated lazily and streamed into the database — PostgreSQL
binary COPY with explicit ids (then each sequence is moved past them), SQLite
`executemany` — all in one transaction. The properties, contacts and
contracts are planned in memory first because every other table depends on
them (when the property was last active, whom a note names).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, func, select

from checks.schema import (
    CONTACT_ROLES,
    CONTRACT_STATUSES,
    KEY_CONTACT_ROLES,
    PIPELINE_STAGES,
    PROPERTY_TYPES,
    STALE_AFTER_DAYS,
    UNSIGNED_CONTRACT_STATUSES,
    Agent,
    ConversationHistory,
    Contact,
    Contract,
    MarketWatchlist,
    Notification,
    Offer,
    Property,
    PropertyNote,
    PropertySnapshot,
    RealtorBase,
    RelationshipScoreSnapshot,
    ScheduledTask,
    SkipTrace,
    ZillowEnrichment,
    score_grade,
)
from heartbeat_mcp.database import Database

T = TypeVar("T")

# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    state: str
    area_code: str
    zip_codes: tuple[str, ...]
    median_price: float


CITIES = (
    City("Austin", "TX", "512", ("78701", "78704", "78745", "78751", "78757"), 560_000),
    City("Denver", "CO", "303", ("80202", "80205", "80210", "80218", "80220"), 610_000),
    City("Phoenix", "AZ", "602", ("85004", "85008", "85016", "85018", "85032"), 440_000),
    City("Nashville", "TN", "615", ("37203", "37206", "37208", "37212", "37215"), 520_000),
    City("Charlotte", "NC", "704", ("28202", "28203", "28205", "28209", "28277"), 410_000),
    City("Tampa", "FL", "813", ("33602", "33606", "33609", "33611", "33629"), 430_000),
    City("Columbus", "OH", "614", ("43201", "43206", "43214", "43215", "43221"), 290_000),
    City("Portland", "OR", "503", ("97202", "97209", "97211", "97214", "97232"), 550_000),
)

# No first name ends with another and no last name starts with another, so a
# note naming one contact never also "mentions" a namesake by substring.
FIRST_NAMES = (
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "William",
    "Elizabeth", "Carlos", "Priya", "Daniel", "Sarah", "Anthony", "Karen", "Kevin", "Nancy",
    "Brian", "Lisa", "Marcus", "Angela", "Steven", "Michelle", "Andrew", "Laura", "Joshua",
    "Rebecca", "Thomas", "Sharon", "Jason", "Cynthia", "Ryan", "Kathleen", "Gregory", "Amy",
    "Omar", "Shirley", "Tyler", "Hannah", "Derek", "Grace", "Victor", "Olivia", "Luis", "Fatima",
    "Trevor", "Megan", "Hiroshi", "Natalie", "Andre", "Jasmine", "Raymond", "Diana", "Samuel",
    "Rosa", "Wesley", "Erin", "Malik", "Teresa", "Gavin", "Yolanda", "Dennis", "Chloe",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Johnson", "Martinez", "Williams", "Nguyen", "Brown", "Patel", "Davis",
    "Rodriguez", "Miller", "Kim", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson",
    "Okafor", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Phillips", "Evans",
    "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers",
    "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Gomez", "Kelly", "Howard",
)  # fmt: skip
STREETS = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Birch", "Magnolia", "Sycamore", "Juniper",
    "Lakeview", "Ridgecrest", "Sunset", "Highland", "Meadow", "Riverside", "Cypress", "Aspen",
    "Mesa", "Canyon", "Prairie", "Briarwood", "Stonegate", "Foxglove", "Larkspur", "Bluebonnet",
    "Harbor", "Summit", "Valley", "Orchard", "Chestnut", "Hawthorn",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Dr", "Ln", "Ct", "Blvd", "Way", "Pl", "Rd", "Trl")
TITLE_ADJECTIVES = ("Charming", "Updated", "Spacious", "Modern", "Renovated", "Cozy", "Bright", "Classic")

# Share of listings, price relative to the city's median, and bedroom range.
_PROPERTY_TYPE_PROFILE: dict[str, tuple[float, float, tuple[int, int] | None]] = {
    "house": (55, 1.00, (2, 5)),
    "condo": (15, 0.65, (1, 3)),
    "townhouse": (12, 0.80, (2, 4)),
    "apartment": (8, 0.55, (1, 3)),
    "land": (5, 0.35, None),
    "commercial": (5, 1.80, None),
}
assert tuple(_PROPERTY_TYPE_PROFILE) == PROPERTY_TYPES

# Roles of the contacts beyond a property's seller and buyer (weights).
_EXTRA_ROLE_WEIGHTS = dict(
    zip(CONTACT_ROLES, (4, 2, 8, 6, 10, 6, 8, 10, 7, 8, 5, 4, 5, 4), strict=True)
)
_NON_KEY_ROLES = tuple(role for role in CONTACT_ROLES if role not in KEY_CONTACT_ROLES)

PURCHASE_AGREEMENT = "Purchase Agreement"
CONTRACT_NAMES = (
    "Seller's Disclosure",
    "Lead-Based Paint Disclosure",
    "Inspection Contingency Addendum",
    "Financing Contingency Addendum",
    "Appraisal Addendum",
    "HOA Documents Acknowledgment",
    "Earnest Money Receipt",
    "Home Warranty Agreement",
    "Title Commitment",
    "Closing Disclosure",
)
# Weights of a non-required contract's status: anything goes.
_ANY_CONTRACT_STATUS = dict(zip(CONTRACT_STATUSES, (10, 12, 8, 10, 25, 10, 10, 15), strict=True))

TOPICS = (
    "the inspection window", "the appraisal", "closing costs", "the earnest money deposit",
    "the HOA documents", "repair credits", "the financing timeline", "a second showing",
    "the title search", "the listing price", "the roof repair estimate", "moving dates",
    "the survey", "the final walkthrough", "the counteroffer", "staging the living room",
)  # fmt: skip
OBSERVATIONS = (
    "roof looks about ten years old", "new HVAC installed last year", "yard needs cleanup before photos",
    "kitchen recently renovated", "street parking only", "hairline crack in the garage slab",
    "great natural light in the living room", "water heater is near the end of its life",
    "comparable sales support the asking price", "two similar listings went pending this week",
)  # fmt: skip
_MENTION_NOTES = {
    "phone_call": (
        "Call with {name}: discussed {topic}.",
        "{name} called back about {topic}.",
        "Left a voicemail for {name} about {topic}.",
    ),
    "voice": ("Spoke with {name} about {topic}.", "{name} asked about {topic}.", "Remind me to send {name} {topic}."),
    "manual": ("Emailed {name} an update on {topic}.", "Met {name} at the property to go over {topic}."),
    "ai": ("Summary: {name} is waiting on {topic}.", "Suggested next step: confirm {topic} with {name}."),
}
_GENERAL_NOTES = {
    "voice": ("Drove by {address}: {observation}.", "Note for {address}: {observation}."),
    "manual": ("Pulled comps for {address}: {observation}.", "Photos scheduled; {observation}."),
    "ai": ("Market note: {observation}.", "Listing description refreshed for {address}."),
    "system": (
        "Zillow data refreshed for {address}.",
        "Deal score recalculated.",
        "Contract status synced from DocuSeal.",
        "Skip trace results attached.",
    ),
}
# tool name, weight, input summary. Never the word "status" for update_property:
# that would read as a manual status change (see pipeline_advancement).
_PROPERTY_TOOLS = (
    ("get_property_details", 25, "Looked up {address}"),
    ("add_property_note", 15, "Added a note to {address}"),
    ("update_property", 8, "Updated the price of {address} to ${price:,.0f}"),
    ("get_property_recommendations", 6, "Asked what to do next on {address}"),
    ("enrich_property", 5, "Pulled Zillow data for {address}"),
    ("skip_trace_property", 4, "Ran a skip trace on {address}"),
    ("send_contract", 6, "Sent a contract for {address}"),
    ("check_contract_status", 8, "Checked contract status for {address}"),
    ("schedule_showing", 6, "Scheduled a showing at {address}"),
    ("call_contact", 8, "Called a contact about {address}"),
    ("score_property", 5, "Scored the deal at {address}"),
    ("create_offer", 4, "Logged an offer on {address}"),
)
_PORTFOLIO_TOOLS = (
    ("search_properties", "Searched listings in {city}"),
    ("list_properties", "Listed my properties"),
    ("get_portfolio_summary", "Asked for a portfolio summary"),
    ("list_market_watchlists", "Listed my watchlists"),
    ("daily_briefing", "Asked for the morning briefing"),
)
# notification type, priority, title, message
_NOTIFICATION_KINDS = (
    ("pipeline_auto_advance", "medium", "Pipeline advanced", "{address} moved to {stage}."),
    ("follow_up_due", "high", "Follow-up due", "Time to follow up on {address}."),
    ("scheduled_task", "medium", "Reminder", "Reminder about {address}."),
    ("contract_signed", "low", "Contract signed", "A contract for {address} was signed."),
    ("new_offer", "high", "New offer", "A new offer came in on {address}."),
    ("watchlist_match", "medium", "Watchlist match", "{address} matches one of your watchlists."),
    ("price_change", "low", "Price change", "The price of {address} changed."),
    ("contract_deadline", "urgent", "Contract deadline", "A contract for {address} is due soon."),
)

# ---------------------------------------------------------------------------
# Shape of the portfolio and rates of the planted situations
# ---------------------------------------------------------------------------

MIN_AGE_DAYS = 1 / 24  # nothing listed in the last hour: healthy watchlists matched since
MAX_AGE_DAYS = 180.0
# Healthy non-complete properties were last touched at most this long ago:
# under every stage's stale threshold and the 3-day rule of high_score_no_action.
HEALTHY_QUIET_DAYS = 2.5
# An unsigned required contract younger than this is not yet "unsigned for over 3 days".
FRESH_CONTRACT_DAYS = 2.9
PROPERTIES_PER_AGENT = 40
PRICE_SHIFT = {"up": 1.22, "down": 0.80}  # last 30 days' prices in the two shifted markets

# Stage weights (in PIPELINE_STAGES order) by property age in days: young
# listings are early in the pipeline, old ones mostly waiting or complete.
_STAGE_WEIGHTS_BY_AGE = (
    (7.0, (55, 30, 15, 0, 0)),
    (30.0, (15, 30, 30, 25, 0)),
    (90.0, (5, 12, 18, 45, 20)),
    (math.inf, (3, 7, 12, 40, 38)),
)

PLANT_RATES: dict[str, float] = {
    # Share of the non-complete portfolio; a property carries at most one.
    "stale_properties": 0.03,
    "pipeline_advancement": 0.025,
    "high_score_no_action": 0.015,
    "deals_needing_attention": 0.02,
    "contract_deadlines_overdue": 0.015,
    "contract_deadlines_near": 0.015,
    "unsigned_contracts": 0.02,
    "price_changes_drop": 0.015,
    "price_changes_other": 0.01,
    # Share of the pipeline_advancement plants whose status was set by hand
    # in the last 24 hours (the check must skip them).
    "pipeline_manual_hold": 0.25,
    # Share of the key contacts of healthy properties gone quiet for 14+ days;
    # each also has an earlier, warmer score snapshot (cooling_relationships).
    "contacts_needing_outreach": 0.03,
    # Share of the tasks of the matching type.
    "overdue_follow_ups": 0.05,
    "due_reminders": 0.05,
    "recurring_tasks": 0.08,
    "task_completion_triggers": 0.05,
    # Share of watchlists not matched for a day, with new matching listings.
    "watchlist_matches": 0.10,
    # Share of the spiking city's listings put in the last 7 days.
    "competitive_activity": 0.08,
}
# Each planted situation is present at least once, however small the portfolio.
_MIN_SPIKE_LISTINGS = 6

_PROPERTY_PLANTS = (
    "stale_properties",
    "pipeline_advancement",
    "high_score_no_action",
    "deals_needing_attention",
    "contract_deadlines_overdue",
    "contract_deadlines_near",
    "unsigned_contracts",
    "price_changes_drop",
    "price_changes_other",
)

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """What a seeding wrote: rows per table, planted situations per check, and time taken."""

    rows: dict[str, int]
    planted: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def default_agent_count(properties: int) -> int:
    """About one agent per 40 properties, at least 3 and at most 25."""
    return min(25, max(3, round(properties / PROPERTIES_PER_AGENT)))


def seed_portfolio(
    database: Database, *, properties: int, seed: int = 0, now: datetime, agents: int | None = None
) -> SeedSummary:
    """Append a portfolio of `properties` listings, with problems planted relative to `now`."""
    if properties < 1:
        raise ValueError("properties must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = time.perf_counter()
    with database.engine.begin() as conn:
        writer = _Writer(conn)
        world = _World(
            seed=seed,
            now=now.astimezone(timezone.utc),
            first_ids=writer.first_ids,
            n_agents=agents if agents is not None else default_agent_count(properties),
        )
        _plan(world, properties)
        for rows in _tables(world):
            writer.write(rows)
        writer.move_sequences()
    return SeedSummary(rows=writer.counts, planted=world.planted, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------
# Writing: one path for every table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Rows for one table, as tuples in the order of `columns`."""

    table: Table
    columns: tuple[str, ...]
    rows: Iterable[tuple[Any, ...]]


_SQLITE_BATCH = 10_000


class _Writer:
    """Bulk-writes rows with explicit ids inside the caller's transaction.

    On PostgreSQL it first locks the tables against other writers (reads go
    on), so the ids it hands out after the current maximum stay free.
    SQLite's `BEGIN IMMEDIATE` already holds the database's write lock.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.postgres = conn.dialect.name == "postgresql"
        self.tables = RealtorBase.metadata.sorted_tables
        if self.postgres:
            names = ", ".join(self._quote(t.name) for t in self.tables)
            conn.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
        self.first_ids = {t.name: (conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1
                          for t in self.tables if "id" in t.c}
        self.counts: dict[str, int] = {}

    def _quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def write(self, rows: _Rows) -> None:
        table = self._quote(rows.table.name)
        columns = ", ".join(self._quote(c) for c in rows.columns)
        raw = self.conn.connection.dbapi_connection
        count = 0
        if self.postgres:
            # Binary COPY: PostgreSQL skips parsing text (timestamps cost most);
            # the column types come from the catalog, so values need no wrapping.
            with raw.cursor() as cursor:
                types = dict(
                    cursor.execute(
                        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                        [rows.table.name],
                    ).fetchall()
                )
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types([types[c] for c in rows.columns])
                    for row in rows.rows:
                        copy.write_row(row)
                        count += 1
        else:
            # The rows bypass SQLAlchemy's statement execution, so apply the
            # columns' own bind processing (UTC timestamps and JSON as text).
            processors = [
                rows.table.c[c].type.dialect_impl(self.dialect).bind_processor(self.dialect) for c in rows.columns
            ]
            data = (
                tuple(v if f is None or v is None else f(v) for f, v in zip(processors, row, strict=True))
                for row in rows.rows
            )
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(rows.columns))})"
            cursor = raw.cursor()
            while batch := list(itertools.islice(data, _SQLITE_BATCH)):
                cursor.executemany(sql, batch)
                count += len(batch)
            cursor.close()
        self.counts[rows.table.name] = self.counts.get(rows.table.name, 0) + count

    def move_sequences(self) -> None:
        """Move each PostgreSQL id sequence past the explicit ids just written."""
        if not self.postgres:
            return  # SQLite's next rowid is always max(id) + 1
        for name, count in self.counts.items():
            if count:
                self.conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {self._quote(name)}))"
                )


# ---------------------------------------------------------------------------
# The plan: agents, properties, contacts, contracts, watchlists (in memory)
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Contact:
    id: int
    name: str
    role: str
    phone: str | None
    email: str | None
    created_at: datetime
    # Planted (contacts_needing_outreach): the last interaction, 14+ days ago.
    quiet_since: datetime | None = None


@dataclass(slots=True)
class _Contract:
    id: int
    name: str
    status: str
    is_required: bool
    created_at: datetime
    contact_id: int | None = None
    required_by_date: datetime | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class _Property:
    id: int
    agent_id: int
    city: City
    age_days: float
    stage: str = ""
    plant: str = ""  # at most one of _PROPERTY_PLANTS, or "watchlist_matches" for a watchlist's new match
    manual_hold: bool = False  # status set by hand within 24 hours (with the pipeline_advancement plant)
    property_type: str = ""
    bedrooms: int | None = None
    bathrooms: float | None = None
    square_feet: int | None = None
    price: float = 0.0
    address: str = ""
    zip_code: str = ""
    title: str = ""
    deal_score: float | None = None
    created_at: datetime = field(default_factory=lambda: datetime.min)
    last_activity_at: datetime = field(default_factory=lambda: datetime.min)
    transitions: list[datetime] = field(default_factory=list)  # when it reached stages 2.. of the pipeline
    contacts: list[_Contact] = field(default_factory=list)
    contracts: list[_Contract] = field(default_factory=list)

    @property
    def stage_index(self) -> int:
        return PIPELINE_STAGES.index(self.stage)

    @property
    def complete(self) -> bool:
        return self.stage == "complete"

    def contact(self, *roles: str) -> _Contact | None:
        """The first contact in one of `roles` that is not planted as gone quiet."""
        return next((c for c in self.contacts if c.role in roles and c.quiet_since is None), None)

    def required_all_completed(self) -> bool:
        required = [c for c in self.contracts if c.is_required]
        return bool(required) and all(c.status == "completed" for c in required)


@dataclass(slots=True)
class _Watchlist:
    agent_id: int
    target: _Property | None = None  # planted: a new listing it has not yet been matched against


@dataclass
class _World:
    seed: int
    now: datetime
    first_ids: dict[str, int]
    n_agents: int
    agent_cities: list[City] = field(default_factory=list)
    properties: list[_Property] = field(default_factory=list)
    watchlists: list[_Watchlist] = field(default_factory=list)
    shifted_markets: dict[str, City] = field(default_factory=dict)  # "up"/"down" → city
    spike_city: City | None = None
    planted: dict[str, int] = field(default_factory=dict)
    _ids: dict[str, Iterator[int]] = field(default_factory=dict)

    def rng(self, stream: str) -> random.Random:
        """An independent, reproducible random stream per table or planning step."""
        return random.Random(f"{self.seed}/{stream}")

    def next_id(self, table: str) -> int:
        if table not in self._ids:
            self._ids[table] = itertools.count(self.first_ids[table])
        return next(self._ids[table])

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def plant(self, situation: str, count: int = 1) -> None:
        self.planted[situation] = self.planted.get(situation, 0) + count


def _pick(rng: random.Random, population: Sequence[T], count: int) -> list[T]:
    """`count` distinct members (at least one when there are any), reproducibly."""
    return rng.sample(population, min(len(population), max(1, count))) if population else []


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random() if end > start else start


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _phone(rng: random.Random, city: City) -> str:
    # 555-01xx numbers are reserved for fiction: no real person gets called.
    return f"({city.area_code}) 555-01{rng.randrange(100):02d}"


def _email(first: str, last: str, n: int) -> str:
    return f"{first}.{last}{n}@example.com".lower()


def _plan(world: _World, n_properties: int) -> None:
    rng = world.rng("markets")
    up, down, spike = rng.sample(CITIES, 3)
    world.shifted_markets = {"up": up, "down": down}
    world.spike_city = spike
    world.plant("market_shifts", 2)
    world.plant("competitive_activity", 1)
    _plan_agents(world)
    _plan_watchlists(world)
    _plan_properties(world, n_properties)
    _plant_property_situations(world)
    rng = world.rng("plan")
    for prop in world.properties:
        _plan_timeline(world, rng, prop)
        _plan_contacts(world, rng, prop)
    _plant_quiet_contacts(world)
    for prop in world.properties:
        _ContractPlanner(world, rng, prop).plan()


def _plan_agents(world: _World) -> None:
    world.agent_cities = [CITIES[i % len(CITIES)] for i in range(world.n_agents)]


def _plan_watchlists(world: _World) -> None:
    rng = world.rng("watchlist-plan")
    first_agent = world.first_ids["agents"]
    world.watchlists = [
        _Watchlist(agent_id=first_agent + a) for a in range(world.n_agents) for _ in range(rng.randint(1, 3))
    ]


def _plan_properties(world: _World, n: int) -> None:
    """Who lists what, where, when and at which stage and price."""
    rng = world.rng("properties")
    first_agent = world.first_ids["agents"]
    home_agents = {city.name: [i for i, c in enumerate(world.agent_cities) if c is city] for city in CITIES}
    props: list[_Property] = []
    for _ in range(n):
        city = rng.choice(CITIES)
        local = home_agents[city.name]
        agent = rng.choice(local) if local and rng.random() < 0.7 else rng.randrange(world.n_agents)
        props.append(
            _Property(
                id=world.next_id("properties"),
                agent_id=first_agent + agent,
                city=city,
                age_days=rng.uniform(MIN_AGE_DAYS, MAX_AGE_DAYS),
            )
        )
    # competitive_activity: an extra wave of listings in one city this week.
    in_spike_city = [p for p in props if p.city is world.spike_city]
    for prop in _pick(rng, in_spike_city, max(_MIN_SPIKE_LISTINGS, round(PLANT_RATES["competitive_activity"] * len(in_spike_city)))):
        prop.age_days = rng.uniform(MIN_AGE_DAYS, 7.0)
    # watchlist_matches: listings from today that a stale watchlist has not seen.
    behind = _pick(rng, world.watchlists, round(PLANT_RATES["watchlist_matches"] * len(world.watchlists)))
    targets = _pick(rng, [p for p in props if p.city is not world.spike_city], len(behind))
    for watchlist, prop in zip(behind, targets):
        watchlist.target = prop
        prop.plant = "watchlist_matches"
        prop.age_days = rng.uniform(MIN_AGE_DAYS, 20 / 24)
    world.plant("watchlist_matches", len(targets))
    for prop in props:
        _describe_property(world, rng, prop)
    world.properties = props


def _describe_property(world: _World, rng: random.Random, prop: _Property) -> None:
    if prop.plant == "watchlist_matches":
        prop.stage = "new_property"
    else:
        weights = next(w for limit, w in _STAGE_WEIGHTS_BY_AGE if prop.age_days < limit)
        prop.stage = rng.choices(PIPELINE_STAGES, weights)[0]
    prop.property_type = rng.choices(PROPERTY_TYPES, [p[0] for p in _PROPERTY_TYPE_PROFILE.values()])[0]
    _, price_factor, bedroom_range = _PROPERTY_TYPE_PROFILE[prop.property_type]
    price = prop.city.median_price * price_factor * rng.lognormvariate(0.0, 0.18)
    if bedroom_range is not None:
        prop.bedrooms = rng.randint(*bedroom_range)
        prop.bathrooms = max(1.0, prop.bedrooms - rng.choice((1.0, 0.5, 0.0)))
        prop.square_feet = int(round(prop.bedrooms * rng.uniform(420, 650) + 300, -1))
        price *= 1 + 0.12 * (prop.bedrooms - 3)
        label = prop.property_type
        prop.title = f"{rng.choice(TITLE_ADJECTIVES)} {prop.bedrooms}BR {label} in {prop.city.name}"
    elif prop.property_type == "commercial":
        prop.square_feet = int(round(rng.uniform(1_500, 20_000), -2))
        prop.title = f"Commercial space in {prop.city.name}"
    else:
        prop.title = f"{rng.choice((0.25, 0.5, 1, 2, 5))} acre lot in {prop.city.name}"
    for direction, city in world.shifted_markets.items():
        if prop.city is city and prop.age_days < 30:
            price *= PRICE_SHIFT[direction]
    prop.price = float(round(price, -3))
    unit = f" Unit {rng.randint(1, 40) * 100 + rng.randint(1, 20)}" if prop.property_type in ("condo", "apartment") else ""
    prop.address = f"{rng.randint(100, 9899)} {rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}{unit}"
    prop.zip_code = rng.choice(prop.city.zip_codes)


# Which properties can carry each planted situation (besides being not complete).
_PLANT_ELIGIBLE: dict[str, Callable[[_Property], bool]] = {
    "stale_properties": lambda p: p.age_days > 1.2 * STALE_AFTER_DAYS[p.stage],
    "pipeline_advancement": lambda p: p.age_days > 1,
    "high_score_no_action": lambda p: p.stage in ("enriched", "researched") and p.age_days > STALE_AFTER_DAYS[p.stage],
    "deals_needing_attention": lambda p: p.stage == "waiting_for_contracts" and p.age_days > 14,
    "contract_deadlines_overdue": lambda p: p.stage == "waiting_for_contracts" and p.age_days > 31,
    "contract_deadlines_near": lambda p: p.stage == "waiting_for_contracts",
    "unsigned_contracts": lambda p: (p.stage == "waiting_for_contracts" and p.age_days > 21)
    or (p.stage in ("new_property", "enriched") and p.age_days > 5),
    "price_changes_drop": lambda p: True,
    "price_changes_other": lambda p: True,
}
assert tuple(_PLANT_ELIGIBLE) == _PROPERTY_PLANTS


def _plant_property_situations(world: _World) -> None:
    rng = world.rng("property-plants")
    open_props = [p for p in world.properties if not p.complete]
    for situation in _PROPERTY_PLANTS:
        eligible = [p for p in open_props if not p.plant and _PLANT_ELIGIBLE[situation](p)]
        chosen = _pick(rng, eligible, round(PLANT_RATES[situation] * len(open_props)))
        for prop in chosen:
            prop.plant = situation
        world.plant(situation, len(chosen))
        if situation == "deals_needing_attention":  # each also had a far better closing probability
            world.plant("closing_probability_drop", len(chosen))
        if situation == "pipeline_advancement":
            held = _pick(rng, chosen, round(PLANT_RATES["pipeline_manual_hold"] * len(chosen)))
            for prop in held:
                prop.manual_hold = True
            world.plant("pipeline_manual_hold", len(held))


def _quiet_days(rng: random.Random, prop: _Property) -> float:
    """Days since the property's last activity, as its planted situation requires."""
    if prop.complete:
        return min(prop.age_days, rng.uniform(0.5, 60.0))  # closed deals go quiet
    threshold = STALE_AFTER_DAYS[prop.stage]
    if prop.plant == "stale_properties":
        return threshold * rng.uniform(1.1, min(3.0, prop.age_days / threshold))
    if prop.plant == "high_score_no_action":
        return rng.uniform(3.2, threshold - 0.3)
    if prop.manual_hold:
        return rng.uniform(0.01, 0.8)
    return min(prop.age_days, rng.uniform(0.01, HEALTHY_QUIET_DAYS))


def _deal_score(rng: random.Random, prop: _Property) -> float | None:
    if prop.plant == "deals_needing_attention":
        return round(rng.uniform(8, 35), 1)
    if prop.plant == "high_score_no_action":
        return round(rng.uniform(80, 97), 1)
    if prop.stage == "new_property" and prop.age_days < 0.25:
        return None  # listed hours ago: not scored yet
    if prop.complete:
        return round(rng.triangular(10, 98, 68), 1)
    # Healthy deals score 50+: with a key contact attached they stay above the
    # closing-probability alarm line whatever their stage.
    return round(rng.triangular(50, 98, 72), 1)


def _plan_timeline(world: _World, rng: random.Random, prop: _Property) -> None:
    prop.created_at = world.ago(prop.age_days)
    prop.last_activity_at = world.ago(_quiet_days(rng, prop))
    prop.transitions = sorted(_between(rng, prop.created_at, prop.last_activity_at) for _ in range(prop.stage_index))
    prop.deal_score = _deal_score(rng, prop)


def _plan_contacts(world: _World, rng: random.Random, prop: _Property) -> None:
    """About three contacts: the seller, the buyer once there is one, and a few others.

    A deal planted to need attention has no key contact at all.
    """
    if prop.plant == "deals_needing_attention":
        roles = rng.sample(_NON_KEY_ROLES, rng.randint(2, 3))
    else:
        roles = ["seller"]
        if prop.stage in ("waiting_for_contracts", "complete") or (prop.stage == "researched" and rng.random() < 0.3):
            roles.append("buyer")
        extra = rng.choices((0, 1, 2, 3), (20, 35, 30, 15))[0]
        roles += rng.choices(tuple(_EXTRA_ROLE_WEIGHTS), tuple(_EXTRA_ROLE_WEIGHTS.values()), k=extra)
    names: set[str] = set()
    for role in roles:
        first, last = _person(rng)
        while f"{first} {last}" in names:  # one name per person on a property
            first, last = _person(rng)
        names.add(f"{first} {last}")
        contact_id = world.next_id("contacts")
        created = prop.created_at if role == "seller" else _between(rng, prop.created_at, prop.last_activity_at)
        prop.contacts.append(
            _Contact(
                id=contact_id,
                name=f"{first} {last}",
                role=role,
                phone=_phone(rng, prop.city) if rng.random() < 0.9 else None,
                email=_email(first, last, contact_id) if rng.random() < 0.8 else None,
                created_at=created,
            )
        )


def _plant_quiet_contacts(world: _World) -> None:
    """contacts_needing_outreach: key contacts of healthy, older deals not heard from in 14+ days."""
    rng = world.rng("quiet-contacts")
    key_contacts = [
        (prop, contact)
        for prop in world.properties
        if not prop.complete and not prop.plant and prop.age_days > 20
        for contact in prop.contacts
        if contact.role in KEY_CONTACT_ROLES
    ]
    chosen = _pick(rng, key_contacts, round(PLANT_RATES["contacts_needing_outreach"] * len(key_contacts)))
    for prop, contact in chosen:
        contact.quiet_since = world.ago(rng.uniform(15, min(prop.age_days - 1, 45)))
        contact.created_at = _between(rng, prop.created_at, contact.quiet_since)
    world.plant("contacts_needing_outreach", len(chosen))
    world.plant("cooling_relationships", len(chosen))


class _ContractPlanner:
    """One property's contracts: deals under contract have them, a few planted ones elsewhere.

    Every time a contract records (created, sent, completed) falls before the
    property's last activity, because contracts are activity. Healthy open
    deals keep at least one required contract unfinished (else they would be
    ready to advance), sent for signature less than three days ago unless
    the whole deal has been quiet longer, with no deadline within 3 days.
    """

    def __init__(self, world: _World, rng: random.Random, prop: _Property) -> None:
        self.world, self.rng, self.prop = world, rng, prop
        self.start = prop.transitions[2] if len(prop.transitions) > 2 else prop.created_at
        fresh = max(prop.created_at, world.ago(FRESH_CONTRACT_DAYS))
        self.fresh_start = fresh if fresh <= prop.last_activity_at else self.start

    def plan(self) -> None:
        prop, rng = self.prop, self.rng
        if prop.stage == "complete":
            self.completed(PURCHASE_AGREEMENT)
            for name in rng.sample(CONTRACT_NAMES, rng.randint(0, 2)):
                if rng.random() < 0.6:
                    self.completed(name)
                else:
                    self.add(name, rng.choice(("completed", "cancelled", "expired", "archived")), False)
        elif prop.stage == "waiting_for_contracts":
            self._open_deal()
        elif prop.plant == "pipeline_advancement" and prop.stage == "researched":
            self.add(PURCHASE_AGREEMENT, "draft", True, _between(rng, self.fresh_start, prop.last_activity_at))
        elif prop.plant == "unsigned_contracts":
            created = self.world.ago(rng.uniform(3.5, min(20.0, prop.age_days - 0.5)))
            self.add("Listing Agreement", rng.choice(("sent", "pending_signature")), True, created)

    def _open_deal(self) -> None:
        prop, rng, world = self.prop, self.rng, self.world
        names = [PURCHASE_AGREEMENT, *rng.sample(CONTRACT_NAMES, rng.randint(0, 3))]
        if prop.plant == "pipeline_advancement":
            for name in names:  # every required contract signed: ready for "complete"
                self.completed(name, required=name == PURCHASE_AGREEMENT or rng.random() < 0.5)
            return
        if prop.plant == "deals_needing_attention":
            for name in names[:2]:  # nothing signed yet, though nothing is late either
                self.unsigned(name)
            return
        unfinished = False
        for name in names:
            roll = rng.random()
            if name != PURCHASE_AGREEMENT and rng.random() < 0.5:
                self.add(name, _weighted(rng, _ANY_CONTRACT_STATUS), False)
            elif roll < 0.45:
                self.completed(name)
            elif roll < 0.9 or not unfinished:
                self.unsigned(name)
                unfinished = True
            else:
                self.add(name, rng.choice(("cancelled", "expired")), True)
        if not unfinished:
            self.unsigned("Closing Disclosure")
        if prop.plant == "contract_deadlines_overdue":
            deadline = world.ago(rng.uniform(0.5, 10))
            created = deadline - timedelta(days=rng.uniform(5, 20))
            status = rng.choice(("sent", "pending_signature", "in_progress"))
            self.add("Inspection Contingency Addendum", status, True, created, deadline)
        elif prop.plant == "contract_deadlines_near":
            self.unsigned("Financing Contingency Addendum", world.now + timedelta(days=rng.uniform(0.1, 2.9)))
        elif prop.plant == "unsigned_contracts":
            created = world.ago(rng.uniform(3.5, min(20.0, prop.age_days - 1)))
            self.add("Appraisal Addendum", rng.choice(UNSIGNED_CONTRACT_STATUSES), True, created)

    def unsigned(self, name: str, deadline: datetime | None = None) -> None:
        if deadline is None and self.rng.random() < 0.5:
            deadline = self.world.now + timedelta(days=self.rng.uniform(4, 30))
        created = _between(self.rng, self.fresh_start, self.prop.last_activity_at)
        self.add(name, self.rng.choice(UNSIGNED_CONTRACT_STATUSES), True, created, deadline)

    def completed(self, name: str, required: bool = True) -> None:
        self.add(name, "completed", required)

    def add(
        self, name: str, status: str, required: bool, created: datetime | None = None, deadline: datetime | None = None
    ) -> None:
        rng, prop = self.rng, self.prop
        if created is None:
            created = _between(rng, self.start, prop.last_activity_at)
        end = max(created, prop.last_activity_at)
        sent = None if status == "draft" else _between(rng, created, created + (end - created) * 0.3)
        done = _between(rng, sent, end) if status == "completed" and sent else None
        # Settled contracts (signed, cancelled, expired, archived) had a deadline half the time; the
        # deadline checks must pass over them.
        if deadline is None and status not in UNSIGNED_CONTRACT_STATUSES and rng.random() < 0.5:
            deadline = created + timedelta(days=rng.uniform(7, 30))
        contact = prop.contact("buyer" if name == PURCHASE_AGREEMENT else "seller") if rng.random() < 0.8 else None
        prop.contracts.append(
            _Contract(
                id=self.world.next_id("contracts"),
                name=name,
                status=status,
                is_required=required,
                created_at=created,
                contact_id=contact.id if contact else None,
                required_by_date=deadline,
                sent_at=sent,
                completed_at=done,
                updated_at=done or sent or created,
            )
        )


# ---------------------------------------------------------------------------
# The tables, in foreign-key order
# ---------------------------------------------------------------------------


def _tables(world: _World) -> Iterator[_Rows]:
    yield _agent_rows(world)
    yield _property_rows(world)
    yield _contact_rows(world)
    yield _contract_rows(world)
    yield _offer_rows(world)
    yield _note_rows(world)
    yield _history_rows(world)
    yield _zillow_rows(world)
    yield _skip_trace_rows(world)
    yield _task_rows(world)
    yield _notification_rows(world)
    yield _watchlist_rows(world)
    yield _property_snapshot_rows(world)
    yield _score_snapshot_rows(world)


def _agent_rows(world: _World) -> _Rows:
    rng = world.rng("agents")

    def rows() -> Iterator[tuple[Any, ...]]:
        for city in world.agent_cities:
            agent_id = world.next_id("agents")
            first, last = _person(rng)
            yield agent_id, f"{first} {last}", _email(first, last, agent_id), city.name, world.ago(rng.uniform(200, 2000))

    return _Rows(Agent.__table__, ("id", "name", "email", "city", "created_at"), rows())


def _property_rows(world: _World) -> _Rows:
    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            grade = None if p.deal_score is None else score_grade(p.deal_score)
            updated = p.last_activity_at if p.manual_hold else (p.transitions[-1] if p.transitions else p.created_at)
            yield (
                p.id, p.agent_id, p.title, p.address, p.city.name, p.city.state, p.zip_code, p.price,
                p.bedrooms, p.bathrooms, p.square_feet, p.property_type, p.stage, p.deal_score, grade,
                p.created_at, updated,
            )  # fmt: skip

    columns = (
        "id", "agent_id", "title", "address", "city", "state", "zip_code", "price", "bedrooms", "bathrooms",
        "square_feet", "property_type", "status", "deal_score", "score_grade", "created_at", "updated_at",
    )  # fmt: skip
    return _Rows(Property.__table__, columns, rows())


def _contact_rows(world: _World) -> _Rows:
    rows = (
        (c.id, p.id, c.name, c.role, c.phone, c.email, c.created_at) for p in world.properties for c in p.contacts
    )
    return _Rows(Contact.__table__, ("id", "property_id", "name", "role", "phone", "email", "created_at"), rows)


def _contract_rows(world: _World) -> _Rows:
    rows = (
        (
            c.id, p.id, c.contact_id, c.name, c.status, c.is_required, c.required_by_date, c.sent_at,
            c.completed_at, c.created_at, c.updated_at,
        )  # fmt: skip
        for p in world.properties
        for c in p.contracts
    )
    columns = (
        "id", "property_id", "contact_id", "name", "status", "is_required", "required_by_date", "sent_at",
        "completed_at", "created_at", "updated_at",
    )  # fmt: skip
    return _Rows(Contract.__table__, columns, rows)


def _offer_rows(world: _World) -> _Rows:
    """Offers on deals under contract; a closed deal has exactly one accepted offer.

    Offers are activity, so each falls before the property's last activity.
    """
    rng = world.rng("offers")

    def offers_for(p: _Property) -> list[str]:
        if p.plant == "deals_needing_attention":
            return ["rejected"] * 3
        if p.stage == "complete":
            return ["accepted", *rng.choices(("rejected", "withdrawn", "expired"), k=rng.randint(0, 2))]
        if p.stage == "waiting_for_contracts":
            count = rng.choices((0, 1, 2, 3), (35, 30, 20, 15))[0]
            statuses = ("draft", "submitted", "countered", "rejected", "withdrawn", "expired")
            return rng.choices(statuses, (10, 30, 20, 20, 10, 10), k=count)
        return []

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            statuses = offers_for(p)
            if not statuses:
                continue
            buyer = p.contact("buyer")
            start = p.transitions[2] if len(p.transitions) > 2 else p.created_at
            for status in statuses:
                created = _between(rng, start, p.last_activity_at)
                submitted = None if status == "draft" else created
                expires = None
                if submitted is not None:
                    expires = submitted + timedelta(days=rng.uniform(2, 7))
                    if status == "expired":
                        expires = _between(rng, submitted, min(expires, world.now))
                price = round(p.price * rng.uniform(0.9, 1.03), -2)
                yield world.next_id("offers"), p.id, buyer.id if buyer else None, price, status, submitted, expires, created

    columns = ("id", "property_id", "buyer_contact_id", "offer_price", "status", "submitted_at", "expires_at", "created_at")
    return _Rows(Offer.__table__, columns, rows())


def _scaled_count(rng: random.Random, prop: _Property, low: int, high: int) -> int:
    """A per-property row count, smaller for listings younger than a week."""
    return max(1, round(rng.randint(low, high) * min(1.0, prop.age_days / 7)))


def _note_rows(world: _World) -> _Rows:
    """About 20 notes per property, each contact named recently (or, if planted quiet, not since).

    The latest note is at the property's last activity, which is what makes
    that time the last activity.
    """
    rng = world.rng("notes")
    mention_sources = tuple(_MENTION_NOTES)
    general_sources = tuple(_GENERAL_NOTES)

    def mention(contact: _Contact, at: datetime) -> tuple[str, str, datetime]:
        source = rng.choices(mention_sources, (35, 30, 20, 15))[0]
        text = rng.choice(_MENTION_NOTES[source]).format(name=contact.name, topic=rng.choice(TOPICS))
        return text, source, at

    def general(p: _Property, at: datetime) -> tuple[str, str, datetime]:
        source = rng.choices(general_sources, (30, 25, 15, 30))[0]
        text = rng.choice(_GENERAL_NOTES[source]).format(address=p.address, observation=rng.choice(OBSERVATIONS))
        return text, source, at

    def notes_for(p: _Property) -> list[tuple[str, str, datetime]]:
        last = p.last_activity_at
        notes = [general(p, last)]
        for c in p.contacts:
            at = c.quiet_since or _between(rng, max(c.created_at, last - timedelta(days=5)), last)
            notes.append(mention(c, at))
        for _ in range(_scaled_count(rng, p, 12, 29) - len(notes)):
            at = _between(rng, p.created_at, last)
            named = [c for c in p.contacts if at >= c.created_at and (c.quiet_since is None or at <= c.quiet_since)]
            notes.append(mention(rng.choice(named), at) if named and rng.random() < 0.5 else general(p, at))
        notes.sort(key=lambda note: note[2])
        return notes

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            for text, source, at in notes_for(p):
                yield world.next_id("property_notes"), p.id, text, source, at

    return _Rows(PropertyNote.__table__, ("id", "property_id", "content", "source", "created_at"), rows())


def _history_rows(world: _World) -> _Rows:
    """About 10 tool calls per property, plus portfolio-wide ones with no property.

    Each stage change is logged: by hand (`update_property`, naming the
    status) when more than a day ago, else by the heartbeat, so the only
    manual status changes of the last 24 hours are the planted holds.
    """
    rng = world.rng("history")
    tools = [t[0] for t in _PROPERTY_TOOLS]
    weights = [t[1] for t in _PROPERTY_TOOLS]
    summaries = {t[0]: t[2] for t in _PROPERTY_TOOLS}
    manual_cutoff = world.ago(1)

    def calls_for(p: _Property) -> list[tuple[str, str, datetime]]:
        calls = []
        for stage, at in zip(PIPELINE_STAGES[1:], p.transitions):
            if at < manual_cutoff and rng.random() < 0.6:
                calls.append(("update_property", f"Set status of {p.address} to {stage}", at))
            else:
                previous = PIPELINE_STAGES[PIPELINE_STAGES.index(stage) - 1]
                calls.append(("heartbeat_pipeline_advance", f"Advanced {p.address} from {previous} to {stage}", at))
        if p.manual_hold:
            calls.append(("update_property", f"Changed status of {p.address} to {p.stage} by hand", p.last_activity_at))
        count = _scaled_count(rng, p, 5, 15) - len(calls)
        for tool in rng.choices(tools, weights, k=max(0, count)):
            summary = summaries[tool].format(address=p.address, price=p.price)
            calls.append((tool, summary, _between(rng, p.created_at, p.last_activity_at)))
        calls.sort(key=lambda call: call[2])
        return calls

    def session() -> str:
        return f"{rng.getrandbits(64):016x}"

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            session_id = session()
            for tool, summary, at in calls_for(p):
                if rng.random() < 0.35:
                    session_id = session()
                yield world.next_id("conversation_history"), session_id, p.id, tool, summary, at
        for _ in range(round(0.8 * len(world.properties))):
            tool, summary = rng.choice(_PORTFOLIO_TOOLS)
            at = world.ago(rng.uniform(0, 90))
            yield world.next_id("conversation_history"), session(), None, tool, summary.format(city=rng.choice(CITIES).name), at

    columns = ("id", "session_id", "property_id", "tool_name", "input_summary", "created_at")
    return _Rows(ConversationHistory.__table__, columns, rows())


def _zillow_rows(world: _World) -> _Rows:
    """Enriched and later stages have Zillow data (some refreshed); planted new listings ready to advance too."""
    rng = world.rng("zillow")

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            ready = p.plant == "pipeline_advancement" and p.stage == "new_property"
            if p.stage_index < 1 and not ready:
                continue
            at = p.transitions[0] if p.transitions else _between(rng, p.created_at, p.last_activity_at)
            times = [at, _between(rng, at, world.now)] if rng.random() < 0.08 else [at]
            for t in times:
                yield world.next_id("zillow_enrichments"), p.id, round(p.price * rng.uniform(0.88, 1.12), -2), t

    return _Rows(ZillowEnrichment.__table__, ("id", "property_id", "zestimate", "created_at"), rows())


def _skip_trace_rows(world: _World) -> _Rows:
    """Researched and later stages have a skip trace; planted enriched listings ready to advance too.

    A deal planted to need attention has a skip trace that found nothing.
    """
    rng = world.rng("skip-traces")

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            ready = p.plant == "pipeline_advancement" and p.stage == "enriched"
            if p.stage_index < 2 and not ready:
                continue
            at = p.transitions[1] if len(p.transitions) > 1 else _between(rng, p.created_at, p.last_activity_at)
            seller = p.contact("seller")
            owner = seller.name if seller else " ".join(_person(rng))
            if p.plant == "deals_needing_attention":
                phones, emails = [], []
            else:
                phones = [_phone(rng, p.city) for _ in range(rng.randint(1, 3))]
                first, last = owner.split(" ", 1)
                emails = [_email(first, last, n) for n in range(rng.choices((0, 1, 2), (10, 60, 30))[0])]
            yield world.next_id("skip_traces"), p.id, owner, phones, emails, at

    columns = ("id", "property_id", "owner_name", "phone_numbers", "emails", "created_at")
    return _Rows(SkipTrace.__table__, columns, rows())


@dataclass(slots=True)
class _Task:
    task_type: str
    title: str
    property_id: int | None
    contact_id: int | None
    created_at: datetime
    description: str | None = None
    status: str = "pending"
    enabled: bool = True
    scheduled_at: datetime = field(default_factory=lambda: datetime.min)
    repeat_interval_hours: int | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None


# How a healthy one-off task stands (weights): waiting for its time, done, or switched off.
_ONE_OFF_OUTCOMES = {
    "pending": 33,
    "scheduled": 20,
    "completed": 25,
    "cancelled": 7,
    "failed": 5,
    "running": 5,
    "disabled": 5,
}


def _task_rows(world: _World) -> _Rows:
    """About 0.4 tasks per property plus two recurring ones per agent, with due and overdue ones planted."""
    rng = world.rng("tasks")
    now = world.now
    tasks: list[_Task] = []

    def one_off(task: _Task, done: bool = False) -> _Task:
        outcome = "completed" if done else _weighted(rng, _ONE_OFF_OUTCOMES)
        if outcome in ("pending", "scheduled"):
            task.status, task.scheduled_at = outcome, now + timedelta(days=rng.uniform(0.1, 14))
        elif outcome == "running":
            task.status, task.scheduled_at = outcome, now - timedelta(minutes=rng.uniform(1, 10))
            task.last_run_at = task.scheduled_at
        elif outcome == "disabled":
            task.enabled, task.scheduled_at = False, world.ago(rng.uniform(0.5, 20))
        else:
            task.status, task.scheduled_at = outcome, world.ago(rng.uniform(0.5, 30))
            task.last_run_at = None if outcome == "cancelled" else task.scheduled_at
        task.created_at = min(task.created_at, task.scheduled_at)
        return task

    def recurring(task: _Task) -> _Task:
        interval = rng.choice((24, 72, 168))
        task.repeat_interval_hours = interval
        task.status = "scheduled"
        task.last_run_at = now - timedelta(hours=interval * rng.uniform(0.05, 0.95))
        task.next_run_at = task.last_run_at + timedelta(hours=interval)
        task.created_at = task.scheduled_at = min(task.created_at, task.last_run_at)
        if rng.random() < 0.1:
            task.status, task.enabled = "cancelled", False
        return task

    for p in world.properties:
        for _ in range(rng.choices((0, 1, 2), (70, 20, 10))[0]):
            kinds = ("contract_check", "follow_up", "reminder", "recurring")
            weights = (35, 35, 20, 10) if p.stage == "waiting_for_contracts" else (0, 45, 40, 15)
            kind = rng.choices(kinds, weights)[0]
            contact = rng.choice(p.contacts) if p.contacts else None
            created = _between(rng, p.created_at, now)
            if kind == "recurring":
                tasks.append(recurring(_Task(kind, f"Weekly check-in on {p.address}", p.id, None, created)))
            elif kind == "contract_check":
                task = _Task(kind, f"Check contract status for {p.address}", p.id, None, created)
                tasks.append(one_off(task, done=p.required_all_completed()))
            elif kind == "follow_up" and contact is not None:
                title = f"Follow up with {contact.name} about {p.address}"
                description = f"Ask {contact.name} about {rng.choice(TOPICS)}."
                tasks.append(one_off(_Task(kind, title, p.id, contact.id, created, description)))
            else:
                topic = rng.choice(TOPICS)
                tasks.append(one_off(_Task("reminder", f"Reminder: {topic} at {p.address}", p.id, None, created)))
    for _ in range(world.n_agents):
        for title in ("Weekly pipeline review", "Monday market report"):
            tasks.append(recurring(_Task("recurring", title, None, None, world.ago(rng.uniform(30, 300)))))

    _plant_task_situations(world, rng, tasks)

    def rows() -> Iterator[tuple[Any, ...]]:
        for t in tasks:
            yield (
                world.next_id("scheduled_tasks"), t.task_type, t.status, t.enabled, t.title, t.description, t.scheduled_at,
                t.repeat_interval_hours, t.last_run_at, t.next_run_at, t.property_id, t.contact_id, t.created_at,
            )  # fmt: skip

    columns = (
        "id", "task_type", "status", "enabled", "title", "description", "scheduled_at", "repeat_interval_hours",
        "last_run_at", "next_run_at", "property_id", "contact_id", "created_at",
    )  # fmt: skip
    return _Rows(ScheduledTask.__table__, columns, rows())


def _plant_task_situations(world: _World, rng: random.Random, tasks: list[_Task]) -> None:
    def of_type(kind: str) -> list[_Task]:
        return [t for t in tasks if t.task_type == kind]

    for situation, kind, max_days in (("overdue_follow_ups", "follow_up", 10.0), ("due_reminders", "reminder", 2.0)):
        population = of_type(kind)
        chosen = _pick(rng, population, round(PLANT_RATES[situation] * len(population)))
        for task in chosen:
            task.enabled, task.status = True, rng.choice(("pending", "scheduled"))
            task.scheduled_at, task.last_run_at = world.ago(rng.uniform(0.01, max_days)), None
            task.created_at = min(task.created_at, task.scheduled_at)
        world.plant(situation, len(chosen))
    population = of_type("recurring")
    chosen = _pick(rng, population, round(PLANT_RATES["recurring_tasks"] * len(population)))
    for task in chosen:  # missed one or more periods
        interval = timedelta(hours=task.repeat_interval_hours or 24)
        task.enabled, task.status = True, "scheduled"
        task.next_run_at = world.now - interval * rng.uniform(0.02, 2.5)
        task.last_run_at = task.next_run_at - interval
        task.created_at = task.scheduled_at = min(task.created_at, task.last_run_at)
    world.plant("recurring_tasks", len(chosen))
    # Contract checks left pending on deals whose required contracts are all signed.
    signed = [p for p in world.properties if p.complete and p.required_all_completed()]
    checks = len(of_type("contract_check"))
    chosen_props = _pick(rng, signed, round(PLANT_RATES["task_completion_triggers"] * checks))
    for p in chosen_props:
        created = _between(rng, p.created_at, p.last_activity_at)
        task = _Task("contract_check", f"Check contract status for {p.address}", p.id, None, created)
        task.scheduled_at = world.now + timedelta(days=rng.uniform(0.5, 7))
        tasks.append(task)
    world.plant("task_completion_triggers", len(chosen_props))


def _notification_rows(world: _World) -> _Rows:
    """About one notification per two properties over the last 30 days, plus each agent's digests."""
    rng = world.rng("notifications")
    first_agent = world.first_ids["agents"]

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in rng.choices(world.properties, k=round(0.5 * len(world.properties))):
            kind, priority, title, message = rng.choice(_NOTIFICATION_KINDS)
            signed = [c for c in p.contracts if c.status == "completed"]
            if kind == "contract_signed" and not signed:
                kind, priority, title, message = _NOTIFICATION_KINDS[0]
            contract_id = rng.choice(signed).id if kind == "contract_signed" else None
            contact = rng.choice(p.contacts) if p.contacts and kind in ("follow_up_due", "new_offer") else None
            at = _between(rng, max(p.created_at, world.ago(30)), world.now)
            read = at < world.ago(2) and rng.random() < 0.8
            data = {"address": p.address, "stage": p.stage}
            yield (
                world.next_id("notifications"), kind, priority, title, message.format(address=p.address, stage=p.stage),
                p.id, contact.id if contact else None, contract_id, p.agent_id, data, read, read and rng.random() < 0.25,
                at,
            )  # fmt: skip
        for a in range(world.n_agents):
            for day in range(1, 8):
                summary = f"{rng.randint(0, 6)} properties advanced, {rng.randint(0, 4)} contracts signed."
                read = rng.random() < 0.7
                at = world.ago(day + rng.uniform(0, 0.05))
                yield (
                    world.next_id("notifications"), "daily_digest", "low", "Daily digest", summary, None, None, None,
                    first_agent + a, {"day": day}, read, False, at,
                )  # fmt: skip

    columns = (
        "id", "type", "priority", "title", "message", "property_id", "contact_id", "contract_id", "agent_id",
        "data", "is_read", "is_dismissed", "created_at",
    )  # fmt: skip
    return _Rows(Notification.__table__, columns, rows())


def _watchlist_rows(world: _World) -> _Rows:
    """Saved searches, matched a few minutes ago — except the planted ones, a day behind.

    A planted watchlist's criteria are those of its target listing, so at
    least that listing (and perhaps others listed since) matches. The first
    planted one has never matched: its created_at is the cut-off instead.
    """
    rng = world.rng("watchlists")
    first_planted = next((w for w in world.watchlists if w.target is not None), None)

    def criteria_for(w: _Watchlist, home: City) -> dict[str, Any]:
        if w.target is not None:
            p = w.target
            found = {"city": p.city.name, "state": p.city.state, "max_price": math.ceil(p.price * 1.1 / 10_000) * 10_000}
            if p.bedrooms is not None:
                found["min_bedrooms"] = p.bedrooms
            if rng.random() < 0.5:
                found["property_type"] = p.property_type
            return found
        city = home if rng.random() < 0.7 else rng.choice(CITIES)
        criteria: dict[str, Any] = {}
        if rng.random() < 0.85:
            criteria.update(city=city.name, state=city.state)
        if rng.random() < 0.7:
            criteria["max_price"] = round(city.median_price * rng.uniform(0.8, 1.6), -4)
        if rng.random() < 0.3:
            criteria["min_price"] = round(city.median_price * rng.uniform(0.3, 0.7), -4)
        if rng.random() < 0.5:
            criteria["min_bedrooms"] = rng.randint(2, 4)
        if rng.random() < 0.2:
            criteria["min_bathrooms"] = rng.choice((1.5, 2.0, 2.5))
        if rng.random() < 0.3:
            criteria["property_type"] = rng.choice(PROPERTY_TYPES[:4])
        if rng.random() < 0.15:
            criteria["min_sqft"] = rng.choice((1_200, 1_500, 2_000))
        return criteria

    def rows() -> Iterator[tuple[Any, ...]]:
        first_agent = world.first_ids["agents"]
        for w in world.watchlists:
            home = world.agent_cities[w.agent_id - first_agent]
            criteria = criteria_for(w, home)
            name = f"{criteria.get('city', 'Anywhere')} {criteria.get('property_type', 'homes')}"
            if "max_price" in criteria:
                name += f" under ${criteria['max_price'] / 1000:,.0f}k"
            active = w.target is not None or rng.random() < 0.85
            created = world.ago(rng.uniform(10, 300))
            last_matched: datetime | None = world.now - timedelta(minutes=rng.uniform(1, 14))
            if w.target is not None:
                last_matched = world.ago(26 / 24)
                if w is first_planted:
                    created, last_matched = last_matched, None
            elif not active:
                last_matched = _between(rng, created, world.ago(5)) if rng.random() < 0.5 else None
            yield (
                world.next_id("market_watchlists"), w.agent_id, name, criteria, active, rng.randint(0, 60),
                last_matched, created,
            )  # fmt: skip

    columns = ("id", "agent_id", "name", "criteria", "is_active", "match_count", "last_matched_at", "created_at")
    return _Rows(MarketWatchlist.__table__, columns, rows())


def _property_snapshot_rows(world: _World) -> _Rows:
    """The heartbeat's last look at each open deal, as if it had been running.

    Planted: an earlier, higher price (a drop of 6-15 %: high), a slightly
    different one (a rise or a drop under 5 %: low), and a much better closing probability for the deals
    planted to need attention (a drop of 15+ points).
    """
    rng = world.rng("property-snapshots")

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            if p.complete:
                continue
            observed = world.now - timedelta(minutes=rng.uniform(5, 60))
            price = p.price
            if p.plant == "price_changes_drop":
                price = round(p.price / (1 - rng.uniform(0.06, 0.15)), -3)
            elif p.plant == "price_changes_other":  # up 2-8 % or down 1-4 %: low
                change = rng.uniform(0.02, 0.08) if rng.random() < 0.5 else -rng.uniform(0.01, 0.04)
                price = round(p.price / (1 + change), -2)
            closing = round(rng.uniform(70, 85), 1) if p.plant == "deals_needing_attention" else None
            yield world.next_id("property_snapshots"), p.id, price, p.deal_score, closing, observed, observed

    columns = ("id", "property_id", "price", "deal_score", "closing_probability", "observed_at", "updated_at")
    return _Rows(PropertySnapshot.__table__, columns, rows())


def _score_snapshot_rows(world: _World) -> _Rows:
    """A warm last score, an hour ago, for each planted quiet contact, so the next scoring reads as cooling.

    (As if the interactions that kept them warm had just aged out of the
    30-day window; snapshots older than two days would be let go anyway.)
    """
    rng = world.rng("score-snapshots")

    def rows() -> Iterator[tuple[Any, ...]]:
        for p in world.properties:
            for c in p.contacts:
                if c.quiet_since is None:
                    continue
                components = {"recency": 38.0, "frequency": 24.0, "responsiveness": 18.0, "breadth": 10.0}
                score = round(sum(components.values()) * rng.uniform(0.95, 1.05), 1)
                yield world.next_id("relationship_score_snapshots"), c.id, score, components, world.now - timedelta(hours=1)

    columns = ("id", "contact_id", "score", "components", "scored_at")
    return _Rows(RelationshipScoreSnapshot.__table__, columns, rows())
