"""`heartbeat-mcp serve`: the engine plus the MCP server, on stdio or streamable HTTP.

The process holds the engine for its whole life (the first user of the
`EngineHost`), so the transport's own lifespan entries only share it. A
first SIGTERM or SIGINT asks the transport to finish (HTTP drains requests
for a few seconds); the engine then stops, giving a running cycle a few
seconds to finish; a second signal cancels at once. Closing stdin ends a
stdio server the same way.

Two details make that stop really happen. The SDK reads stdin in a worker
thread that cannot be cancelled, so a signal would wait for the next line
forever; here a daemon thread reads it instead. And a check stuck outside
the database keeps its worker thread alive after the engine gave up on it;
the process then exits without joining it — the check's transaction is
rolled back with the connection, so no half-done run is recorded.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import uvicorn
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server

from heartbeat_mcp.cli import Stop
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.server.app import build_server
from heartbeat_mcp.server.auth import (
    BearerTokenMiddleware, BindRefused, SameSiteOnly, check_bind, transport_security,
)
from heartbeat_mcp.server.host import EngineHost
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.singleton import EngineLocked
from heartbeat_mcp.task import HostInfo

log = logging.getLogger("heartbeat_mcp.server")

MCP_PATH = "/mcp"
HTTP_DRAIN_SECONDS = 3
THREAD_EXIT_SECONDS = 1.0
# How long a thread may keep the interpreter lock while another waits for it (Python's default is 5 ms).
# During a cycle, checks turn rows into Python objects in worker threads, and each step of a voice request
# (reading it, answering, writing) waits its turn for the lock behind them: a shorter turn keeps the answer
# quick while a cycle runs (status p99 during a cycle about 45 → 30 ms in benchmarks/bench_server.py).
SWITCH_INTERVAL_SECONDS = 0.001
TRANSPORT_NAMES = {"stdio": "stdio", "http": "streamable-http"}
Transport = Callable[[MCPServer, anyio.Event], Awaitable[None]]


def serve(settings: Settings, database: Database, *, transport: str = "stdio", host: str = "127.0.0.1",
          port: int = 8765) -> None:
    """Run until stdin closes (stdio) or a signal arrives; raises EngineLocked if another engine owns the database."""
    if transport == "http":
        try:
            check_bind(host, settings.http_token)
        except BindRefused as exc:
            raise Stop(str(exc)) from None
    engine = HeartbeatEngine(database, settings, host=HostInfo(transports=(TRANSPORT_NAMES[transport],)))
    engine_host = EngineHost(engine)
    server = build_server(engine, engine_host)
    run: Transport = _stdio if transport == "stdio" else http_transport(host, port, settings)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        anyio.run(_main, engine_host, server, run)
    except BaseExceptionGroup as group:  # anyio may wrap what a task group raised
        expected = group.subgroup((EngineLocked, Stop))
        if expected is not None:
            raise _first(expected) from None
        raise
    _exit_if_checks_linger()


async def _main(engine_host: EngineHost, server: MCPServer, run: Transport) -> None:
    shutdown = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_watch_signals, shutdown, group.cancel_scope)
        await run_server(engine_host, server, run, shutdown)
        group.cancel_scope.cancel()
    log.info("heartbeat-mcp stopped")


async def run_server(engine_host: EngineHost, server: MCPServer, transport: Transport, shutdown: anyio.Event) -> None:
    """Hold the engine for as long as `transport` serves; it ends when `shutdown` is set (or stdin closes)."""
    async with engine_host.lifespan(server):
        log.info("heartbeat-mcp %s serving; engine replica %s", server.version, engine_host.engine.replica_id)
        await transport(server, shutdown)


async def _watch_signals(shutdown: anyio.Event, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if shutdown.is_set():
                log.warning("second %s: stopping now", signal.Signals(signum).name)
                scope.cancel()
                return
            log.info("%s: shutting down", signal.Signals(signum).name)
            shutdown.set()


async def _stdio(server: MCPServer, shutdown: anyio.Event) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_cancel_on, shutdown, group.cancel_scope)
        async with stdio_server(stdin=_StdinLines(sys.stdin.buffer)) as (read_stream, write_stream):  # type: ignore[arg-type]
            lowlevel = server._lowlevel_server  # noqa: SLF001 - run_stdio_async cannot take our stdin reader
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        log.info("stdin closed")
        group.cancel_scope.cancel()


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


class _StdinLines:
    """Lines of stdin, read by a daemon thread so that a signal never waits on a blocked read."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")

    async def __aiter__(self) -> AsyncIterator[str]:
        send, receive = anyio.create_memory_object_stream[str](16)
        token = anyio.lowlevel.current_token()

        def pump() -> None:
            try:
                for line in iter(self._text.readline, ""):
                    anyio.from_thread.run(send.send, line, token=token)
            except Exception:  # noqa: BLE001 - the loop has ended, or stdin broke: either way, no more lines
                pass
            finally:
                try:
                    anyio.from_thread.run_sync(send.close, token=token)
                except Exception:  # noqa: BLE001 - the loop is already gone
                    pass

        threading.Thread(target=pump, name="stdin-reader", daemon=True).start()
        async with receive:
            async for line in receive:
                yield line


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: `_watch_signals` owns them for both transports."""

    def capture_signals(self) -> Any:  # type: ignore[override]
        return nullcontext()


def http_transport(host: str, port: int, settings: Settings) -> Transport:
    """Streamable HTTP on host:port, at /mcp beside the health routes, guarded by the token if one is set."""
    async def run(server: MCPServer, shutdown: anyio.Event) -> None:
        security = transport_security(host)
        app: Any = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
        if settings.http_token is not None:
            app = BearerTokenMiddleware(app, settings.http_token)
        app = SameSiteOnly(app, security)
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=HTTP_DRAIN_SECONDS, server_header=False)
        web = _Uvicorn(config)
        async with anyio.create_task_group() as group:

            async def stop_on_shutdown() -> None:
                await shutdown.wait()
                web.should_exit = True

            group.start_soon(stop_on_shutdown)
            await web.serve()
            group.cancel_scope.cancel()
        if not web.started:
            raise Stop(f"could not serve HTTP on {host}:{port}; see the error above", 1)

    return run


def _first(group: BaseExceptionGroup) -> BaseException:
    found = group.exceptions[0]
    return _first(found) if isinstance(found, BaseExceptionGroup) else found


def _exit_if_checks_linger() -> None:
    """Leave without joining worker threads a stuck check still holds (see the module docstring).

    Idle worker threads stop by themselves within moments of the loop ending; wait that long first.
    """
    deadline = time.monotonic() + THREAD_EXIT_SECONDS
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        log.warning("abandoning %d check thread(s) still running; their transactions roll back", len(stuck))
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)
