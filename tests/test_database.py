"""The database handle: how the threads of one process take turns writing to SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from heartbeat_mcp.database import Database, WriterQueue


def test_the_writer_queue_hands_the_lock_over_in_the_order_it_was_asked_for() -> None:
    queue = WriterQueue()
    assert queue.acquire(timeout=1)
    order: list[int] = []
    threads = []
    for n in range(4):
        def writer(n: int = n) -> None:
            assert queue.acquire(timeout=10)
            order.append(n)
            queue.release()

        threads.append(threading.Thread(target=writer))
        threads[-1].start()
        while len(queue._waiting) < n + 1:  # this writer is in the queue before the next one asks
            threading.Event().wait(0.001)
    queue.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3]
    assert queue.acquire(timeout=0), "free again once everyone has had a turn"


def test_a_writer_that_gives_up_waiting_leaves_the_queue_working() -> None:
    queue = WriterQueue()
    assert queue.acquire(timeout=1)
    assert not queue.acquire(timeout=0.01)
    queue.release()
    assert queue.acquire(timeout=0), "the writer that gave up is not handed the lock"


def test_threads_writing_to_one_sqlite_file_at_once_all_commit(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'queue.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))

    def add_ones() -> None:
        for _ in range(25):
            with database.transaction() as session:
                n = session.execute(text("SELECT n FROM counter")).scalar_one()
                session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=add_ones) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with database.sessions() as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 100
    database.dispose()


def test_a_connection_lost_in_the_middle_of_a_write_lets_the_next_writer_in(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'queue.db'}")
    connection = database.engine.connect()
    connection.execute(text("CREATE TABLE t (n INTEGER)"))  # the write transaction is open now
    connection.invalidate()  # closed under it, as a broken connection is
    with database.transaction() as session:
        session.execute(text("CREATE TABLE u (n INTEGER)"))
    with database.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'u')")).scalar_one() == 1
    database.dispose()
