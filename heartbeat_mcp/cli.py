"""The `heartbeat-mcp` command.

Every command validates every setting first: a bad value exits with status 2
and one line naming the variable (or flag), the value and what is accepted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from heartbeat_mcp import __version__
from heartbeat_mcp.briefing import render_briefing
from heartbeat_mcp.checklist import ChecklistError, parse_checklist, validate_checklist
from heartbeat_mcp.database import Database, describe_error
from heartbeat_mcp.migrate import SchemaBehind, ensure_schema, upgrade
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.settings import SPECS, Settings, SettingsError, default_data_dir, load_settings
from heartbeat_mcp.singleton import EngineLocked
from heartbeat_mcp.task import Seeder, SeedSummary

EXIT_BAD_SETTINGS = 2
log = logging.getLogger("heartbeat_mcp")


class Stop(Exception):
    """Leave with a message on stderr and an exit status."""

    def __init__(self, message: str, status: int = EXIT_BAD_SETTINGS) -> None:
        super().__init__(message)
        self.status = status


def _settings_flags() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (each also read from its HEARTBEAT_* variable)")
    for spec in (s for s in SPECS if s.has_flag):
        group.add_argument(spec.flag, dest=spec.field, default=None, metavar="VALUE", help=f"{spec.env}: {spec.accepted}")
    return parent


def build_parser() -> argparse.ArgumentParser:
    flags = _settings_flags()
    parser = argparse.ArgumentParser(
        prog="heartbeat-mcp", description="A proactive heartbeat for a real-estate agent's voice assistant, over MCP."
    )
    parser.add_argument("--version", action="version", version=f"heartbeat-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[flags], help="run the MCP server with the live engine")
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)

    once = commands.add_parser("run-once", parents=[flags], help="run every enabled task now and print the report")
    once.add_argument("--json", action="store_true", help="print only the report JSON")
    once.add_argument("--task", action="append", default=[], metavar="NAME", help="run only this task or group (repeatable)")

    status = commands.add_parser("status", parents=[flags], help="show the engine's state")
    status.add_argument("--json", action="store_true")

    commands.add_parser("checklist", parents=[flags], help="print the effective configuration as HEARTBEAT.md")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", parents=[flags], help="bring the database to the latest schema")

    seed = commands.add_parser("seed", parents=[flags], help="generate a realistic demo portfolio")
    seed.add_argument("--properties", type=int, required=True)
    seed.add_argument("--seed", type=int, default=0)

    demo = commands.add_parser("demo", parents=[flags], help="run one cycle on an embedded demo portfolio")
    demo.add_argument("--properties", type=int, default=200)
    demo.add_argument("--fresh", action="store_true", help="rebuild the demo database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo" and args.database_url is None:
            args.database_url = f"sqlite:///{default_data_dir() / 'demo.db'}"
        settings = load_settings({spec.field: getattr(args, spec.field) for spec in SPECS if spec.has_flag})
        configure_logging(settings.log_level)
        handler = COMMANDS[args.command if args.command != "db" else f"db {args.db_command}"]
        return handler(args, settings)
    except SettingsError as exc:
        print(f"heartbeat-mcp: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    except Stop as exc:
        print(f"heartbeat-mcp: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


def configure_logging(level: str) -> None:
    """Logs go to stderr: on stdio, stdout carries the MCP protocol."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("httpx", "httpcore", "mcp", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Connect (or stop with exit 2), then make sure the schema is current."""
    database = Database(settings.database_url)
    if database.sqlite_path:
        Path(database.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    ping = database.ping_sync()
    if not ping.ok:
        raise Stop(
            f"HEARTBEAT_DATABASE_URL={settings.safe_database_url!r} is not valid: "
            f"expected a database that can be reached ({ping.error})."
        )
    if migrate:
        try:
            ensure_schema(database, load_packs())
        except SchemaBehind as exc:
            raise Stop(str(exc)) from None
    return database


def check_checklist(settings: Settings) -> None:
    """A malformed HEARTBEAT.md stops a command at start, naming the file, line and fix."""
    from heartbeat_mcp.engine import default_checklist

    path = default_checklist(settings, load_packs())
    if path is None:
        return
    try:
        checklist = parse_checklist(path.read_text(encoding="utf-8"), source=str(path), timezone=settings.timezone)
        validate_checklist(checklist, [t.name for p in load_packs() for t in p.tasks], source=str(path))
    except ChecklistError as exc:
        raise Stop(str(exc)) from None


def new_engine(settings: Settings, database: Database, **kwargs: Any):
    from heartbeat_mcp.engine import HeartbeatEngine

    return HeartbeatEngine(database, settings, **kwargs)


# --- commands -------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from heartbeat_mcp.server.run import serve

    check_checklist(settings)
    database = open_database(settings)
    try:
        serve(settings, database, transport=args.transport, host=args.host, port=args.port)
    except EngineLocked as exc:
        raise Stop(str(exc), 1) from None
    return 0


def cmd_run_once(args: argparse.Namespace, settings: Settings) -> int:
    check_checklist(settings)
    database = open_database(settings)
    engine = new_engine(settings, database)

    async def run() -> tuple[Any, Any]:
        try:
            async with engine.standalone():
                targets = args.task or [None]
                cycles = [await engine.execute_cycle(t) for t in targets]
                await engine.dispatcher.deliver_due()  # the webhook hears what this run found before it exits
                return cycles, await engine.report()
        except EngineLocked as exc:
            raise Stop(str(exc), 1) from None

    try:
        cycles, report = anyio.run(run)
    except ValueError as exc:  # an unknown task name
        raise Stop(str(exc)) from None
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_briefing(report, settings.timezone), end="")
    failed = [name for cycle in cycles for name in cycle.failed]
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    engine = new_engine(settings, database)
    status = anyio.run(engine.get_status)
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(status).items()}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    width = max(len(k) for k in data)
    for key, value in data.items():
        print(f"{key.replace('_', ' '):<{width}}  {value if value not in (None, []) else '-'}")
    return 0


def cmd_checklist(args: argparse.Namespace, settings: Settings) -> int:
    check_checklist(settings)
    database = open_database(settings)
    engine = new_engine(settings, database)
    print(anyio.run(engine.effective_checklist), end="")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings, migrate=False)
    try:
        upgrade(database, load_packs())
    except Exception as exc:  # noqa: BLE001 - say what failed, without the URL
        raise Stop(f"upgrade failed: {describe_error(exc)}", 1) from None
    print(f"{database.safe_url}: schema is up to date", file=sys.stderr)
    return 0


def seeder() -> Seeder:
    found = next((pack.seed for pack in load_packs() if pack.seed), None)
    if found is None:
        raise Stop("no installed check pack can generate demo data", 1)
    return found


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if args.properties < 1:
        raise Stop(f"--properties={args.properties} is not valid: expected a positive whole number.")
    database = open_database(settings)
    summary = seeder()(database, properties=args.properties, seed=args.seed, now=datetime.now(timezone.utc))
    print(describe_seed(summary))
    return 0


def describe_seed(summary: SeedSummary) -> str:
    counts = ", ".join(f"{n:,} {table}" for table, n in summary.rows.items() if n)
    return f"Seeded {sum(summary.rows.values()):,} rows in {summary.seconds:.1f} s: {counts}."


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from heartbeat_mcp.demo import run_demo

    check_checklist(settings)
    return run_demo(settings, seeder(), properties=args.properties, fresh=args.fresh)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": cmd_serve,
    "run-once": cmd_run_once,
    "status": cmd_status,
    "checklist": cmd_checklist,
    "db upgrade": cmd_db_upgrade,
    "seed": cmd_seed,
    "demo": cmd_demo,
}

if __name__ == "__main__":
    # Run the package's module rather than this `__main__` copy of it, so that the `Stop` that
    # server code imports from heartbeat_mcp.cli is the class `main` catches.
    from heartbeat_mcp.cli import main as package_main

    sys.exit(package_main())
