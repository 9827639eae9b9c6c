"""HEARTBEAT.md as the live configuration of a running engine."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.schedule import Every
from tests.engine_support import engine_for, pack_of, run_until, runs
from tests.test_engine import START, config

pytestmark = pytest.mark.anyio

CHECKLIST = """# HEARTBEAT.md

## Tests (every 5 minutes)
- [x] First check `alpha`
- [x] Second check `beta`
"""


def write(path: Path, text: str) -> None:
    """Write and move the modification time on, as an editor saving later would."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def checklist(tmp_path: Path) -> Path:
    path = tmp_path / "HEARTBEAT.md"
    write(path, CHECKLIST)
    return path


async def test_an_edit_is_applied_within_one_tick_without_double_firing(database: Database, checklist: Path) -> None:
    clock = FakeClock(START)
    engine = engine_for(database, pack_of(("alpha", Every(60)), ("beta", Every(60))), clock, checklist=checklist)
    await run_until(engine, clock, START + timedelta(minutes=30))
    assert config(database, "alpha").schedule == "every 5 minutes"  # the file wins over the registered default
    alpha_runs = len(runs(database, "alpha"))

    write(checklist, CHECKLIST.replace("- [x] Second", "- [ ] Second").replace(
        "First check `alpha`", "First check `alpha` (every 10 minutes)"))
    await engine.tick()
    assert not config(database, "beta").enabled
    assert config(database, "alpha").schedule == "every 10 minutes"
    assert len(runs(database, "alpha")) == alpha_runs  # applying the edit ran nothing

    beta_runs = len(runs(database, "beta"))
    await run_until(engine, clock, START + timedelta(minutes=90))
    assert len(runs(database, "beta")) == beta_runs
    slots = [r.scheduled_for for r in runs(database, "alpha")][alpha_runs:]
    assert len(slots) == 6 and {b - a for a, b in zip(slots, slots[1:])} == {timedelta(minutes=10)}


async def test_a_broken_edit_keeps_the_last_good_configuration(database: Database, checklist: Path) -> None:
    clock = FakeClock(START)
    engine = engine_for(database, pack_of(("alpha", Every(60)), ("beta", Every(60))), clock, checklist=checklist)
    await engine.tick()
    write(checklist, CHECKLIST.replace("(every 5 minutes)", "(every banana)"))
    await engine.tick()
    status = await engine.get_status()
    assert status.checklist_error is not None and f"{checklist} line 3:" in status.checklist_error
    assert config(database, "alpha").schedule == "every 5 minutes" and config(database, "beta").enabled

    write(checklist, CHECKLIST.replace("`beta`", "`betta`"))
    await engine.tick()
    assert "line 5" in (await engine.get_status()).checklist_error and "`beta`" in (await engine.get_status()).checklist_error

    write(checklist, CHECKLIST)
    await engine.tick()
    assert (await engine.get_status()).checklist_error is None


async def test_run_time_changes_win_over_the_file(database: Database, checklist: Path) -> None:
    clock = FakeClock(START)
    engine = engine_for(database, pack_of(("alpha", Every(60)), ("beta", Every(60))), clock, checklist=checklist)
    await engine.tick()
    await engine.configure("beta", enabled=False)
    await engine.configure("alpha", interval=timedelta(minutes=20))
    write(checklist, CHECKLIST.replace("(every 5 minutes)", "(every 15 minutes)") + "\n")
    await engine.tick()
    assert not config(database, "beta").enabled
    assert config(database, "alpha").schedule == "every 20 minutes"
    printed = await engine.effective_checklist()
    assert "- [ ] Second check `beta`" in printed
    assert "First check `alpha` (every 20 minutes)" in printed
    assert "## Tests (every 15 minutes)" in printed
