"""`heartbeat-mcp serve` as a separate process, the way an MCP client starts it: stdio and streamable HTTP.

Each process gets its own SQLite file and the fast, deterministic test pack
(installed through the entry-point group, like any check pack); every other
installed check is switched off in a checklist the test writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from heartbeat_mcp.database import Database
from heartbeat_mcp.models import TaskConfig, TaskRun
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.settings import load_settings
from tests.server_fixtures import PROCESS_PACK, call, eventually, install_process_pack, resource_updates, told_of

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
REPORT, ACTION_ITEMS = "heartbeat://report/latest", "heartbeat://action-items"
SERVE = ["-m", "heartbeat_mcp.cli", "serve"]
DESKTOP_CONFIG = REPO / "claude_desktop_config.example.json"
CHECKOUT_PLACEHOLDER = "/ABSOLUTE/PATH/TO/heartbeat-mcp"


def write_checklist(path: Path, *, slow_scan: str | None) -> Path:
    """The test pack on a ten-second base cycle, quick_scan switched off (a test switches it on), slow_scan
    on its own schedule if given; every other installed check switched off."""
    others = [t.name for pack in load_packs() for t in pack.tasks if pack.name != PROCESS_PACK.name]
    slow = f"- [x] A scan that never finishes in time `slow_scan` ({slow_scan})" if slow_scan else \
        "- [ ] A scan that never finishes in time `slow_scan`"
    path.write_text("\n".join([
        "# HEARTBEAT.md", "",
        "## Test checks (every cycle)",
        "- [ ] Scan the test portfolio `quick_scan`",
        slow, "",
        "## Other installed checks (every hour)",
        *[f"- [ ] Switched off here `{name}`" for name in others], "",
    ]))
    return path


def server_env(tmp_path: Path, *, slow_scan: str | None = None, **extra: str) -> dict[str, str]:
    install_process_pack(tmp_path / "pack")
    return {
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "pack"), str(REPO)]),
        "HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'heartbeat.db'}",
        "HEARTBEAT_CHECKLIST": str(write_checklist(tmp_path / "HEARTBEAT.md", slow_scan=slow_scan)),
        "HEARTBEAT_INTERVAL_SECONDS": "10",
        "HEARTBEAT_TIMEZONE": "America/New_York",
        **extra,
    }


def os_env(env: dict[str, str]) -> dict[str, str]:
    """What a client passes to a server it starts: a minimal environment plus the server's own variables."""
    return {**{k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}, **env}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """The subprocess's SQLite file, read from the test (it exists once the server has started)."""
    found = Database(f"sqlite:///{tmp_path / 'heartbeat.db'}")
    yield found
    found.dispose()


def runs(database: Database) -> list[TaskRun]:
    with database.sessions() as session:
        return list(session.scalars(select(TaskRun)))


def tasks(database: Database) -> dict[str, TaskConfig]:
    with database.sessions() as session:
        return {r.task_name: r for r in session.scalars(select(TaskConfig))}


def running(database: Database, task: str) -> bool:
    """Whether `task` holds a lease, i.e. a run of it has started (False while the server is still starting)."""
    try:
        row = tasks(database).get(task)
    except OperationalError:  # the server has not created its tables yet
        return False
    return row is not None and row.lease_owner is not None


async def exercise(open_client: Any, database: Database) -> None:
    """What any client does: list the tools, run a cycle with progress, hear of a scheduled cycle."""
    async with resource_updates(open_client, [REPORT, ACTION_ITEMS]) as (client, updates):
        names = {t.name for t in (await client.list_tools()).tools}
        assert len(names) == 8 and {"trigger_heartbeat_cycle", "acknowledge_action_items"} <= names
        progress: list[str | None] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        ran = await client.call_tool("trigger_heartbeat_cycle", {"task": "quick scan"}, progress_callback=on_progress)
        assert not ran.is_error and ran.structured_content["tasks_run"] == 1
        assert progress == ["quick scan: 1 item"]
        await told_of(updates, {REPORT, ACTION_ITEMS})
        # Switched on, the check is overdue at once: the loop runs it on its own, a scheduled run.
        await call(client, "configure_heartbeat_task", task="quick scan", enabled=True)
        await told_of(updates, {REPORT, ACTION_ITEMS})
        assert {r.trigger for r in runs(database)} == {"manual", "schedule"}


# --- stdio --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_over_stdio_a_client_runs_a_cycle_with_progress_and_hears_of_scheduled_ones(
    tmp_path: Path, database: Database, mode: str
) -> None:
    params = StdioServerParameters(command=sys.executable, args=SERVE, env=server_env(tmp_path), cwd=str(tmp_path))
    with anyio.fail_after(30):
        await exercise(lambda **kw: Client(params, mode=mode, **kw), database)


# --- streamable HTTP ------------------------------------------------------------------------


@asynccontextmanager
async def http_server(tmp_path: Path, port: int, *args: str, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`heartbeat-mcp serve --transport http` on `port`, stopped with SIGTERM afterwards (and it must exit 0)."""
    process = subprocess.Popen([sys.executable, *SERVE, "--transport", "http", "--port", str(port), *args],
                               env=os_env(server_env(tmp_path, **env)), cwd=tmp_path, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with anyio.fail_after(15):
            while True:
                assert process.poll() is None, process.stderr.read().decode()
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await anyio.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert status == 0, process.stderr.read().decode()


def token_client(port: int, token: str) -> Client:
    http = create_mcp_http_client({"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_over_http_a_client_runs_a_cycle_with_progress_and_hears_of_scheduled_ones(
    tmp_path: Path, database: Database, free_tcp_port: int, mode: str
) -> None:
    async with http_server(tmp_path, free_tcp_port):
        with anyio.fail_after(30):
            await exercise(lambda **kw: Client(f"http://127.0.0.1:{free_tcp_port}/mcp", mode=mode, **kw), database)


async def test_over_http_a_token_is_required_and_a_foreign_host_refused(
    tmp_path: Path, database: Database, free_tcp_port: int
) -> None:
    token = "a-long-enough-test-token"
    base = f"http://127.0.0.1:{free_tcp_port}"
    async with http_server(tmp_path, free_tcp_port, HEARTBEAT_HTTP_TOKEN=token):
        async with httpx.AsyncClient(base_url=base) as web:
            assert (await web.post("/mcp", json={})).status_code == 401
            assert (await web.get("/health")).json() == {"status": "pass"}
            assert (await web.get("/health/database")).status_code == 401
            signed = {"Authorization": f"Bearer {token}"}
            assert (await web.get("/health/database", headers=signed)).json()["status"] == "pass"
            foreign = await web.get("/health/database", headers={**signed, "Host": "heartbeat.evil.example"})
            assert foreign.status_code == 421
        async with token_client(free_tcp_port, token) as client:
            status = await call(client, "get_heartbeat_status")
    assert status["state"] == "running" and token not in json.dumps(status)


def test_a_non_loopback_bind_without_a_token_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, *SERVE, "--transport", "http", "--host", "0.0.0.0", "--port", "9"],
                            env=os_env(server_env(tmp_path)), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("heartbeat-mcp: --host 0.0.0.0 accepts connections from other machines: "
                           "set HEARTBEAT_HTTP_TOKEN")


# --- shutdown -------------------------------------------------------------------------------

HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]
TRIGGER_SLOW_SCAN = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                     "params": {"name": "trigger_heartbeat_cycle", "arguments": {"task": "slow scan"}}}


@pytest.mark.parametrize("stop, started_by", [
    ("SIGTERM", "trigger"), ("SIGINT", "trigger"), ("stdin closes", "trigger"), ("SIGTERM", "schedule"),
])
async def test_the_server_stops_cleanly_within_seconds_while_a_check_is_stuck(
    tmp_path: Path, database: Database, stop: str, started_by: str
) -> None:
    env = server_env(tmp_path, slow_scan="every hour" if started_by == "trigger" else "every cycle")
    process = subprocess.Popen([sys.executable, *SERVE], env=os_env(env), cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    messages = [*HANDSHAKE, TRIGGER_SLOW_SCAN] if started_by == "trigger" else HANDSHAKE
    try:
        assert process.stdin is not None
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        process.stdin.flush()
        await eventually(lambda: running(database, "slow_scan"), 20)
        asked = time.monotonic()
        if stop == "stdin closes":
            process.stdin.close()
        else:
            process.send_signal(getattr(signal, stop))
        status = process.wait(15)
        took = time.monotonic() - asked
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read().decode()
    assert status == 0, stderr
    assert took < 8, f"took {took:.1f} s"
    rows = tasks(database)
    assert all(r.lease_owner is None and r.lease_until is None for r in rows.values()), "a lease was left held"
    for run in runs(database):  # a run is recorded together with its task's result, or not at all
        row = rows[run.task_name]
        assert row.last_run_at is not None and row.last_run_at >= run.finished_at and row.last_result is not None
    assert not [r for r in runs(database) if r.task_name == "slow_scan"]
    assert "Traceback" not in stderr


# --- Claude Desktop -------------------------------------------------------------------------


def desktop_entry() -> dict[str, Any]:
    config = json.loads(DESKTOP_CONFIG.read_text())
    [entry] = config["mcpServers"].values()
    return json.loads(json.dumps(entry).replace(CHECKOUT_PLACEHOLDER, str(REPO)))


def test_the_claude_desktop_example_names_the_installed_command_and_valid_settings() -> None:
    entry = desktop_entry()
    command = Path(entry["command"])
    assert command.is_absolute() and command == REPO / ".venv" / "bin" / "heartbeat-mcp"
    assert command.is_file() and os.access(command, os.X_OK)
    assert entry["args"] == ["serve"]
    assert {"HEARTBEAT_TIMEZONE", "HEARTBEAT_INTERVAL_SECONDS"} <= set(entry["env"])
    assert all(k.startswith("HEARTBEAT_") for k in entry["env"])
    load_settings(environ=entry["env"])  # every value is valid


async def test_the_claude_desktop_example_starts_a_server_that_answers(tmp_path: Path) -> None:
    entry = desktop_entry()
    # Only the database and the checklist change here: a throw-away file, and the installed checks.
    env = {**entry["env"], **{k: v for k, v in server_env(tmp_path).items()
                              if k in ("HEARTBEAT_DATABASE_URL", "HEARTBEAT_CHECKLIST", "PYTHONPATH")}}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env)
    with anyio.fail_after(30):
        async with Client(params) as client:
            status = await call(client, "get_heartbeat_status")
    assert status["state"] == "running"
