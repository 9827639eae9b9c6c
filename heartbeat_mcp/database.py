"""One handle on the database for the engine, the checks and the server.

SQLAlchemy's synchronous engine does the work in worker threads (`run`), so the
event loop never waits on a query. The same code serves SQLite (embedded,
single process) and PostgreSQL (production, several replicas).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import (
    JSON, Connection, Text, cast, column, create_engine, event, func, literal, select, text, type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def normalize_url(raw: str) -> URL:
    """Accept the URLs people paste: ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL ({exc})") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite:/// or postgresql://")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError("PostgreSQL is used through psycopg 3: write postgresql://")
    return url


def redact(url: URL | str) -> str:
    """The URL as it may appear in logs and errors: never with its password."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)


@dataclass(frozen=True)
class Ping:
    ok: bool
    latency_ms: float
    error: str = ""


class Database:
    """An SQLAlchemy engine plus the few behaviours both dialects need to agree on."""

    def __init__(self, url: str | URL, *, pool_size: int = 5, echo: bool = False) -> None:
        self.url = normalize_url(str(url)) if isinstance(url, str) else url
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS,
                              "factory": QueuedWriterConnection},
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            _configure_sqlite(self.engine, _writers_of(self.url.database))
        else:
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                # No pre-ping round trip per checkout: a connection broken by a restart fails its
                # statement once, SQLAlchemy then discards the whole pool, and the engine retries.
                pool_pre_ping=False,
                pool_timeout=10,
                # JIT compilation pays off for long analytical queries; the checks' correlated
                # subqueries look expensive to the planner and then spend more time compiling than running.
                connect_args={"connect_timeout": 5, "application_name": "heartbeat-mcp", "options": "-c jit=off"},
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # For work that only reads. On SQLite it runs beside the one writer (WAL) instead of queueing for
        # the write lock; on both databases a write in it fails rather than slipping past the caller's promise.
        self.readers = sessionmaker(self.engine.execution_options(
            **({READ_ONLY: True} if self.dialect == "sqlite" else {"postgresql_readonly": True})
        ), expire_on_commit=False)
        self._begin_hooks = threading.local()

        def on_begin(_session: Session, _transaction: Any, connection: Connection) -> None:
            hook = getattr(self._begin_hooks, "hook", None)
            if hook is not None:
                hook(connection)

        for sessions in (self.sessions, self.readers):
            event.listen(sessions, "after_begin", on_begin)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    @property
    def sqlite_path(self) -> str | None:
        if not self.is_sqlite:
            return None
        return self.url.database if self.url.database not in (None, "", ":memory:") else None

    @contextmanager
    def on_begin(self, hook: Callable[[Connection], None]) -> Iterator[None]:
        """Call `hook` with the connection of each transaction this thread begins inside the block.

        Sessions begin lazily, at their first statement; this is how the
        engine learns which connection a check's work is on (to interrupt
        it at a timeout) without opening a transaction, and on SQLite its
        write lock, before the check needs one.
        """
        self._begin_hooks.hook = hook
        try:
            yield
        finally:
            self._begin_hooks.hook = None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits by itself: no BEGIN, no COMMIT round trip."""
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def sqlite_write(self) -> Iterator[sqlite3.Connection]:
        """A SQLite write transaction on a pooled connection's own driver connection.

        For the engine's hot path only (`SQLiteStatement`): the writer queue,
        BEGIN IMMEDIATE and the commit as any transaction here has them,
        without SQLAlchemy's connection and transaction objects around them.
        """
        pooled = self.engine.raw_connection()
        try:
            connection = pooled.driver_connection
            connection.begin_immediate()
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            pooled.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking database work in a worker thread."""
        return await anyio.to_thread.run_sync(fn, *args)

    async def run_in_transaction(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with self.transaction() as session:
                return fn(session)

        return await self.run(work)

    def ping_sync(self) -> Ping:
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "down"
            return Ping(False, (time.perf_counter() - started) * 1000, describe_error(exc))
        return Ping(True, (time.perf_counter() - started) * 1000)

    async def ping(self) -> Ping:
        return await self.run(self.ping_sync)

    def dispose(self) -> None:
        self.engine.dispose()


def describe_error(exc: BaseException) -> str:
    """A one-line error without connection strings or SQL parameters."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip().splitlines()
    first = message[0] if message else type(exc).__name__
    return f"{type(orig or exc).__name__}: {first}"[:300]


def is_cancelled_statement(exc: BaseException | None) -> bool:
    """A statement stopped by its deadline: PostgreSQL's statement_timeout, or our own interrupt."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "57014" or "interrupted" in str(orig or "").lower()


def interrupt(dbapi_connection: Any) -> None:
    """Stop the statement a driver connection is running, from another thread.

    This is how a task timeout really stops database work: the worker thread's
    query fails at once and its transaction rolls back.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.interrupt()
    elif dbapi_connection is not None:
        dbapi_connection.cancel()


SQLITE_BUSY_SECONDS = 30
# The execution option that makes a SQLite transaction a reader's (`Database.readers`).
READ_ONLY = "heartbeat_read_only"


class WriterQueue:
    """A lock taken in the order it was asked for.

    Each release hands the lock straight to the longest waiter, so a thread
    that writes again at once cannot overtake threads already waiting.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._guard:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._guard:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return False
        return True  # handed over between the timeout and the guard: ours after all

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False


_queues: dict[str, WriterQueue] = {}
_queues_guard = threading.Lock()


def _writers_of(path: str | None) -> WriterQueue | None:
    """The queue the writers of one SQLite file take turns on in this process (None: an in-memory database)."""
    if path in (None, "", ":memory:"):
        return None
    with _queues_guard:
        return _queues.setdefault(os.path.realpath(path), WriterQueue())


class QueuedWriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on an in-process lock.

    SQLite lets one writer in at a time, and a writer that finds the file
    locked sleeps in its busy handler in growing steps (up to 100 ms), so a
    few threads writing at once spend most of their time asleep while the
    lock is free. Threads of one process instead wait on a lock that hands
    over the moment the writer before them commits or rolls back. SQLite's
    own lock still decides (other processes meet the busy handler as before);
    this one only orders the process's own writers.
    """

    writers: WriterQueue | None = None
    _writing = False
    _reading = False

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE once this thread's turn comes; errors read as SQLAlchemy's, like any statement's."""
        try:
            if self.writers is not None:
                if not self.writers.acquire(timeout=SQLITE_BUSY_SECONDS):
                    # What the busy handler says after the same wait: the caller sees no difference.
                    raise sqlite3.OperationalError("database is locked")
                self._writing = True
            self.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._finished()
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc
        except BaseException:
            self._finished()
            raise

    def begin_read(self) -> None:
        """A deferred transaction that may only read: a snapshot beside the writer, no place in its queue."""
        try:
            self.execute("PRAGMA query_only = ON")
            self._reading = True
            self.execute("BEGIN")
        except sqlite3.Error as exc:
            self._finished()
            raise DBAPIError.instance("BEGIN", None, exc, sqlite3.Error) from exc

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._finished()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._finished()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._finished(closed=True)

    def __del__(self) -> None:
        self._finished(closed=True)  # a connection dropped mid-transaction must not keep the queue shut

    def _finished(self, *, closed: bool = False) -> None:
        if self._reading and not closed and not self.in_transaction:
            self._reading = False
            self.execute("PRAGMA query_only = OFF")
        if self._writing and (closed or not self.in_transaction):
            self._writing = False
            assert self.writers is not None
            self.writers.release()


def _configure_sqlite(engine: Engine, writers: WriterQueue | None) -> None:
    """Make SQLite safe for a threaded engine.

    WAL lets readers run beside the one writer; `BEGIN IMMEDIATE` takes the
    write lock at the start of a transaction, so two threads never both read
    and then deadlock upgrading to write (SQLite would fail one at once
    instead of waiting). The process's own writers queue for it on `writers`.
    """
    lock = threading.Lock()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        dbapi_connection.writers = writers
        with lock:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.connection.dbapi_connection.begin_read()
        else:
            conn.connection.dbapi_connection.begin_immediate()


def insert_with_conflicts(session: Session, target: Any) -> Any:
    """An INSERT into `target` that takes ON CONFLICT clauses, in the dialect of the session's database.

    Both dialects spell ON CONFLICT alike, but each has its own INSERT
    construct; writes that replicas or overlapping checks may race on pick
    it here.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(target)


def json_rows(session: Session, name: str, columns: dict[str, Any], rows: list[tuple[Any, ...]]) -> Any:
    """`rows` as a table to join, sent as one JSON parameter whatever their number.

    jsonb_to_recordset on PostgreSQL, json_each on SQLite. For a write of
    values a previous statement of the run computed (or a run's findings):
    sending them back costs one parameter, where computing them again in the
    write would cost the whole query once more, and a parameter per value
    would cost a round of binding each. Floats may come back a unit in the
    last place off on SQLite: round them again with the expression that
    computed them. A JSON column comes back as SQLite's JSON text, not cast
    (SQLite would read a CAST to JSON as one to a number).
    """
    document = json.dumps([dict(zip(columns, row)) for row in rows])
    if session.get_bind().dialect.name == "postgresql":
        return (
            func.jsonb_to_recordset(cast(literal(document, Text), JSONB))
            .table_valued(*(column(key, type_) for key, type_ in columns.items()))
            .render_derived(name=name, with_types=True)
        )
    each = func.json_each(literal(document, Text)).table_valued("value")

    def typed(key: str, type_: Any) -> Any:
        value = func.json_extract(each.c.value, f"$.{key}")
        return type_coerce(value, type_) if isinstance(type_, JSON) else cast(value, type_)

    return select(*(typed(key, type_).label(key) for key, type_ in columns.items())).subquery(name)


class SQLiteStatement:
    """A Core statement compiled once for SQLite and run on the driver's connection itself.

    For the statements that record every task run: on SQLite they take
    microseconds, and SQLAlchemy's execution of each (context, events, result
    objects) costs ten times that. The SQL is still the Core statement's and
    values go through their column types' own processors, so what is written
    is what `Connection.execute` would write.
    """

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self.sql = compiled.string
        self._names = list(compiled.positiontup or ())
        self._defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self._processors = {
            name: processor for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(compiled.dialect).bind_processor(compiled.dialect)) is not None
        }

    def run(self, connection: sqlite3.Connection, params: dict[str, Any]) -> sqlite3.Cursor:
        values = []
        for name in self._names:
            value = params[name] if name in params else self._defaults[name]
            processor = self._processors.get(name)
            values.append(value if processor is None or value is None else processor(value))
        try:
            return connection.execute(self.sql, values)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, None, exc, sqlite3.Error) from exc
