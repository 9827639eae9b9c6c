"""Test helpers for the engine: a check pack built in code, a fake-clock driver, a TCP proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.models import TaskRun
from heartbeat_mcp.schedule import Schedule
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.task import CheckPack, CheckResult, TaskSpec


def quiet(ctx: Any) -> CheckResult:
    return CheckResult()


def pack_of(*specs: tuple[str, Schedule] | TaskSpec, handler: Callable[[Any], Any] = quiet) -> CheckPack:
    tasks = tuple(s if isinstance(s, TaskSpec) else TaskSpec(s[0], handler, s[1], "Tests") for s in specs)
    return CheckPack("tests", tasks)


def engine_for(database: Database, pack: CheckPack, clock: FakeClock | None = None, **kw: Any) -> HeartbeatEngine:
    settings_kw = {k: kw.pop(k) for k in list(kw) if k in Settings.model_fields}
    settings = Settings(database_url=str(database.url.render_as_string(hide_password=False)), **settings_kw)
    # Simulated days step from one due task to the next, not tick by tick.
    kw.setdefault("tick_seconds", 3600)
    return HeartbeatEngine(database, settings, packs=[pack], clock=clock, **kw)


async def run_until(engine: HeartbeatEngine, clock: FakeClock, end: datetime) -> int:
    """Drive the loop step by step, jumping the clock to each wake-up, as a real day would go."""
    steps = 0
    while True:
        await engine.tick()
        steps += 1
        wake = await engine.next_wake()
        if wake > end:
            clock.set(end)
            return steps
        clock.set(max(wake, clock.now()))


def runs(database: Database, task: str | None = None) -> list[TaskRun]:
    with database.sessions() as session:
        query = select(TaskRun).order_by(TaskRun.scheduled_for, TaskRun.id)
        if task:
            query = query.where(TaskRun.task_name == task)
        return list(session.scalars(query))


class TcpProxy:
    """A loopback TCP proxy that can be switched off, to take a database away from a live engine."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        self.up = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.down()
        self.listener.close()
