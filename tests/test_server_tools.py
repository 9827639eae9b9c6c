"""The six voice tools as an assistant calls them, in both protocol eras and on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import Replica, TaskConfig, TaskRun
from heartbeat_mcp.schedule import EveryCycle
from heartbeat_mcp.server import build_server
from heartbeat_mcp.server.host import EngineHost
from heartbeat_mcp.singleton import EngineLocked
from heartbeat_mcp.task import CheckPack, TaskSpec
from tests.server_fixtures import (  # noqa: F401 - catalogue, clock, connect, engine, gate, mode, server: fixtures
    START, TASK_NAMES, TEST_PACK, Gate, call, catalogue, client_of, clock, configuration, connect, engine, eventually,
    gate, make_engine, mode, refusal, server, speakable,
)

pytestmark = pytest.mark.anyio

PARAMETERS = {
    "get_heartbeat_status": [],
    "trigger_heartbeat_cycle": ["task"],
    "pause_heartbeat": ["task", "duration"],
    "resume_heartbeat": ["task"],
    "configure_heartbeat_task": ["task", "enabled", "interval"],
    "get_heartbeat_report": ["group", "task", "min_priority"],
    "acknowledge_action_items": ["ids", "task"],
    "snooze_action_item": ["id", "duration"],
}
REQUIRED = {"snooze_action_item": ["id", "duration"]}
# The plan's voice commands, each answered by exactly one tool.
VOICE_COMMANDS = {
    "get_heartbeat_status": ["What's the heartbeat status?", "Is the autonomous agent running?"],
    "trigger_heartbeat_cycle": ["Trigger a heartbeat cycle now"],
    "pause_heartbeat": ["Pause the heartbeat system"],
    "resume_heartbeat": ["Resume heartbeat monitoring"],
    "configure_heartbeat_task": ["Enable stale property monitoring", "Disable market intelligence checks",
                                 "Configure heartbeat to run every 10 minutes"],
    "get_heartbeat_report": ["Show me the last heartbeat cycle", "Show me the full heartbeat report",
                             "What did the last cycle find?", "Any action items from heartbeat?"],
}
# (readOnlyHint, destructiveHint, idempotentHint, openWorldHint). A trigger runs the installed checks,
# which may probe third-party services; pauses and switches are reversible settings, safe to repeat.
ANNOTATIONS = {
    "get_heartbeat_status": (True, False, True, False),
    "trigger_heartbeat_cycle": (False, False, False, True),
    "pause_heartbeat": (False, False, True, False),
    "resume_heartbeat": (False, False, True, False),
    "configure_heartbeat_task": (False, False, True, False),
    "get_heartbeat_report": (True, False, True, False),
    "acknowledge_action_items": (False, False, True, False),
    "snooze_action_item": (False, False, True, False),
}
ONE_CALL_EACH = [
    ("get_heartbeat_status", {}),
    ("trigger_heartbeat_cycle", {}),
    ("pause_heartbeat", {"task": "market watch", "duration": "two hours"}),
    ("resume_heartbeat", {"task": "market watch"}),
    ("configure_heartbeat_task", {"task": "stale offers", "enabled": False}),
    ("get_heartbeat_report", {}),
]
TOP_ITEM = "The purchase agreement for 12 Oak Street is overdue by 3 days."


def runs_of(database: Database, task: str) -> list[TaskRun]:
    with database.sessions() as session:
        return list(session.scalars(select(TaskRun).where(TaskRun.task_name == task)))


def replicas(database: Database) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(Replica))


def row(database: Database, task: str) -> TaskConfig:
    with database.sessions() as session:
        return session.scalars(select(TaskConfig).where(TaskConfig.task_name == task)).one()


# --- what the tools declare ------------------------------------------------------------


async def test_the_tools_take_exactly_their_named_typed_and_described_parameters(catalogue) -> None:
    async with catalogue() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(PARAMETERS)
    for name, parameters in PARAMETERS.items():
        properties = tools[name].input_schema["properties"]
        assert list(properties) == parameters, name
        for parameter, schema in properties.items():
            assert len(schema.get("description", "")) > 20, (name, parameter)
            assert "type" in schema or "anyOf" in schema, (name, parameter)
        assert tools[name].input_schema.get("required", []) == REQUIRED.get(name, []), name


async def test_an_interval_may_be_sent_as_a_number_according_to_the_schema(catalogue) -> None:
    async with catalogue() as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "configure_heartbeat_task")
    accepted = {option.get("type") for option in tool.input_schema["properties"]["interval"]["anyOf"]}
    assert {"string", "number"} <= accepted


async def test_each_description_lists_the_voice_commands_it_answers(catalogue) -> None:
    async with catalogue() as client:
        descriptions = {t.name: t.description or "" for t in (await client.list_tools()).tools}
    for name, commands in VOICE_COMMANDS.items():
        for command in commands:
            assert f'"{command}"' in descriptions[name], (name, command)
            others = [n for n, d in descriptions.items() if n != name and command in d]
            assert not others, (command, others)


async def test_annotations_say_what_each_tool_may_do(catalogue) -> None:
    async with catalogue() as client:
        tools = (await client.list_tools()).tools
    found = {t.name: (t.annotations.read_only_hint, t.annotations.destructive_hint,
                      t.annotations.idempotent_hint, t.annotations.open_world_hint) for t in tools}
    assert found == ANNOTATIONS


async def test_every_tool_declares_a_structured_result_whose_first_field_is_speech(catalogue) -> None:
    async with catalogue() as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.output_schema is not None, tool.name
        assert next(iter(tool.output_schema["properties"])) == "speech", tool.name
        assert "speech" in tool.output_schema["required"], tool.name


async def test_every_tool_answers_with_speech_first_short_and_plain(connect, subtests) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        for tool, arguments in ONE_CALL_EACH:
            result = await call(client, tool, **arguments)
            with subtests.test(tool):
                assert next(iter(result)) == "speech"
                assert set(result) <= set(schemas[tool]["properties"])
                assert speakable(result["speech"]), result["speech"]
                assert not any(name in result["speech"] for name in TASK_NAMES)


# --- refusals: spoken, and nothing changes ----------------------------------------------

REFUSALS = [
    ("unknown task", "trigger_heartbeat_cycle", {"task": "open house follow ups"},
     ["no task called 'open house follow ups'"]),
    ("misheard task", "resume_heartbeat", {"task": "signing deadlnes"}, ["Did you mean signing deadlines"]),
    ("ambiguous task", "pause_heartbeat", {"task": "stale"}, ["could mean stale listings, stale offers"]),
    ("ambiguous task", "configure_heartbeat_task", {"task": "stale", "enabled": False},
     ["stale listings, stale offers"]),
    ("ambiguous task", "get_heartbeat_report", {"task": "stale"}, ["stale listings, stale offers"]),
    ("interval banana", "configure_heartbeat_task", {"interval": "banana"},
     ["'banana' is not a duration", "ten minutes"]),
    ("interval too short", "configure_heartbeat_task", {"task": "price drops", "interval": "5 seconds"},
     ["5 seconds is out of range", "between 10 seconds and 7 days"]),
    ("interval too long", "configure_heartbeat_task", {"interval": "30 days"}, ["30 days is out of range"]),
    ("nothing to change", "configure_heartbeat_task", {"task": "price drops"}, ["on or off, or how often"]),
    ("unknown group", "pause_heartbeat", {"task": "marketing watch", "duration": "two hours"},
     ["no task called 'marketing watch'", "Did you mean Market watch"]),
    ("duration banana", "pause_heartbeat", {"duration": "whenever"}, ["'whenever' is not a time or duration"]),
    ("time already past", "pause_heartbeat", {"duration": "until 2026-06-15T07:30:00-04:00"}, ["already passed"]),
    ("priority unknown", "get_heartbeat_report", {"min_priority": "super"}, ["low, medium, high or urgent"]),
    ("switch unclear", "configure_heartbeat_task", {"task": "price drops", "enabled": "maybe"}, ["true or false"]),
    ("phrase too long", "pause_heartbeat", {"task": "stale " * 60}, ["too long"]),
]


async def test_a_refused_request_is_a_spoken_error_and_changes_nothing(connect, database: Database, subtests) -> None:
    async with connect() as client:
        await call(client, "get_heartbeat_status")  # the engine has written its task rows
        for case, tool, arguments, says in REFUSALS:
            before = configuration(database)
            message = await refusal(client, tool, **arguments)
            with subtests.test(case, tool=tool):
                assert configuration(database) == before
                assert speakable(message), message
                for words in says:
                    assert words in message, message


# --- forgiving input --------------------------------------------------------------------

PHRASES = [
    ("stale_listings", "task", ["stale_listings"]),
    ("Stale Listings", "task", ["stale_listings"]),
    ("market watch", "group", ["price_drops"]),
    ("the paperwork checks", "group", ["signing_deadlines", "unsigned_forms"]),
    ("contract deadlines", "task", ["signing_deadlines"]),  # words of its checklist line
    ("everything", "engine", TASK_NAMES),
]


async def test_a_task_is_found_by_name_group_or_checklist_words(connect, subtests) -> None:
    async with connect() as client:
        for phrase, kind, tasks in PHRASES:
            paused = await call(client, "pause_heartbeat", task=phrase)
            with subtests.test(phrase):
                assert paused["target"]["kind"] == kind
                assert sorted(paused["target"]["tasks"]) == sorted(tasks)


INTERVALS = [("600", 600), (600, 600), ("10 minutes", 600), ("every hour", 3600), ("1h30m", 5400),
             ("every ten minutes", 600)]


async def test_an_interval_said_any_usual_way_re_times_the_task_in_the_database(
    connect, database: Database, subtests
) -> None:
    async with connect() as client:
        for interval, seconds in INTERVALS:
            configured = await call(client, "configure_heartbeat_task", task="price drops", interval=interval)
            stored = row(database, "price_drops")
            with subtests.test(repr(interval)):
                assert configured["interval_seconds"] == seconds
                assert (stored.schedule_seconds, stored.override_schedule) == (seconds, configured["schedule"])
    assert row(database, "stale_listings").schedule_seconds == 300  # only the task named


async def test_an_interval_without_a_task_re_times_the_base_cycle_and_survives_a_restart(
    connect, database: Database, clock: FakeClock, mode: str
) -> None:
    async with connect() as client:
        configured = await call(client, "configure_heartbeat_task", interval="every 10 minutes")
    assert configured["speech"] == "Checks that follow the base cycle now run every 10 minutes."
    async with client_of(build_server(make_engine(database, clock=clock)), mode) as client:
        status = await call(client, "get_heartbeat_status")
    assert status["base_interval_seconds"] == 600
    followers = [row(database, n).schedule_seconds for n in ("stale_listings", "stale_offers", "price_drops")]
    assert followers == [600, 600, 3600]  # price drops has a schedule of its own


async def test_switching_a_group_off_persists_and_a_new_engine_keeps_it(connect, database: Database, clock: FakeClock,
                                                                         mode: str) -> None:
    async with connect() as client:
        off = await call(client, "configure_heartbeat_task", task="market watch", enabled=False)
    assert off["speech"] == "Market watch checks are now off."
    assert (row(database, "price_drops").enabled, row(database, "price_drops").override_enabled) == (False, False)
    async with client_of(build_server(make_engine(database, clock=clock)), mode) as client:
        status = await call(client, "get_heartbeat_status")
        ran = await call(client, "trigger_heartbeat_cycle")
    assert (status["tasks_enabled"], status["tasks_total"]) == (4, 5)
    assert "price_drops" not in {r["task"] for r in ran["runs"]}


DURATIONS = [
    ("two hours", START + timedelta(hours=2), "until 10 AM"),
    ("for 30 minutes", START + timedelta(minutes=30), "until 8:30 AM"),
    ("until tomorrow morning", START + timedelta(days=1), "until tomorrow at 8 AM"),  # 8 AM New York
    ("until 5pm", START + timedelta(hours=9), "until 5 PM"),
    ("until 2026-06-15T13:00:00-04:00", START + timedelta(hours=5), "until 1 PM"),
    ("until resumed", None, "until you resume them"),
]


async def test_a_pause_duration_said_any_usual_way_sets_when_it_ends(connect, database: Database, subtests) -> None:
    async with connect() as client:
        for duration, until, says in DURATIONS:
            paused = await call(client, "pause_heartbeat", task="listings", duration=duration)
            with subtests.test(duration):
                assert says in paused["speech"] and speakable(paused["speech"])
                assert (paused["paused_until"] is None) == (until is None)
                for name in ("stale_listings", "stale_offers"):
                    assert (row(database, name).paused, row(database, name).paused_until) == (True, until)
    assert not row(database, "price_drops").paused


# --- pause and resume over time ---------------------------------------------------------


async def test_a_timed_pause_resumes_by_itself_and_the_checks_run_again(connect, database: Database,
                                                                        clock: FakeClock) -> None:
    async with connect() as client:
        await call(client, "pause_heartbeat", duration="two hours")
        clock.advance(timedelta(hours=1))
        paused = await call(client, "get_heartbeat_status")
        assert paused["state"] == "paused" and "paused until 10 AM" in paused["speech"]
        await anyio.sleep(0.2)  # the loop woke for the clock and found nothing it may run
        assert runs_of(database, "stale_listings") == []
        clock.advance(timedelta(hours=1, seconds=1))
        await eventually(lambda: runs_of(database, "stale_listings"))
        status = await call(client, "get_heartbeat_status")
    assert status["state"] == "running" and status["paused_until"] is None


async def test_a_pause_survives_a_restart_and_resume_lifts_it(connect, database: Database, clock: FakeClock,
                                                              mode: str) -> None:
    async with connect() as client:
        await call(client, "pause_heartbeat", duration="until tomorrow morning")
    async with client_of(build_server(make_engine(database, clock=clock)), mode) as client:
        status = await call(client, "get_heartbeat_status")
        assert status["state"] == "paused"
        assert status["speech"].startswith("The heartbeat is paused until tomorrow at 8 AM.")
        resumed = await call(client, "resume_heartbeat")
    assert resumed["state"] == "running"
    assert resumed["speech"].startswith("The heartbeat is running again.")
    assert speakable(resumed["speech"])


async def test_resuming_a_group_while_the_heartbeat_is_paused_says_so(connect) -> None:
    async with connect() as client:
        await call(client, "pause_heartbeat", task="market watch")
        await call(client, "pause_heartbeat")
        resumed = await call(client, "resume_heartbeat", task="market watch")
    assert resumed["speech"] == "Market watch checks are running again, but the heartbeat as a whole is still paused."


# --- trigger ----------------------------------------------------------------------------


async def test_a_trigger_runs_every_check_and_reports_progress_as_each_finishes(connect, database: Database) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with connect() as client:
        result = await client.call_tool("trigger_heartbeat_cycle", {}, progress_callback=on_progress)
    ran = result.structured_content
    assert not result.is_error and ran["tasks_run"] == 5 and ran["tasks_failed"] == []
    assert sorted(r["task"] for r in ran["runs"]) == sorted(TASK_NAMES)
    assert [(done, total) for done, total, _ in progress] == [(n, 5) for n in range(1, 6)]
    assert {m for _, _, m in progress} >= {"stale listings: 2 items", "price drops: nothing found"}
    assert ran["speech"] == ("Ran 5 checks in under a second, all without errors. "
                             f"4 items need attention, 2 urgent or high; the top one: {TOP_ITEM}")
    assert all(len(runs_of(database, name)) == 1 for name in TASK_NAMES)


@pytest.mark.parametrize("phrase, tasks", [("signing deadlines", ["signing_deadlines"]),
                                           ("paperwork", ["signing_deadlines", "unsigned_forms"])])
async def test_a_trigger_of_a_task_or_group_runs_only_those(connect, database: Database, phrase: str,
                                                            tasks: list[str]) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with connect() as client:
        result = await client.call_tool("trigger_heartbeat_cycle", {"task": phrase}, progress_callback=on_progress)
    assert sorted(r["task"] for r in result.structured_content["runs"]) == tasks
    assert progress == list(range(1, len(tasks) + 1))
    assert [n for n in TASK_NAMES if runs_of(database, n)] == tasks
    assert result.structured_content["report"]["action_item_counts"]["urgent"] == 1


async def test_a_trigger_of_a_switched_off_group_says_nothing_ran(connect) -> None:
    async with connect() as client:
        await call(client, "configure_heartbeat_task", task="paperwork", enabled=False)
        result = await call(client, "trigger_heartbeat_cycle", task="paperwork")
    assert result["tasks_run"] == 0
    assert result["speech"].startswith("Nothing ran: paperwork checks are switched off")


def held_pack(gate: Gate) -> CheckPack:
    return CheckPack("held", (*TEST_PACK.tasks, TaskSpec("held_scan", gate, EveryCycle(), "Held", "Hold the cycle")))


async def test_a_trigger_during_a_running_cycle_joins_it_instead_of_starting_another(
    database: Database, clock: FakeClock, mode: str, gate: Gate
) -> None:
    server = build_server(make_engine(database, held_pack(gate), clock=clock))
    answers: list[dict[str, Any]] = []

    async def trigger(task: str | None) -> None:
        async with client_of(server, mode) as client:
            answers.append(await call(client, "trigger_heartbeat_cycle", **({"task": task} if task else {})))

    async with client_of(server, mode) as watcher, anyio.create_task_group() as group:
        group.start_soon(trigger, None)
        await anyio.to_thread.run_sync(gate.entered.wait, 5)
        group.start_soon(trigger, "held scan")
        group.start_soon(trigger, None)
        status = await call(watcher, "get_heartbeat_status")
        assert "held_scan" in status["running_tasks"]
        await anyio.sleep(0.2)
        assert answers == []  # both later triggers wait for the running cycle
        gate.opened.set()
    assert len({a["cycle_id"] for a in answers}) == 1 and len(answers) == 3
    assert all(len(runs_of(database, n)) == 1 for n in [*TASK_NAMES, "held_scan"])


async def test_a_trigger_during_a_scheduled_cycle_waits_for_the_check_that_is_running(
    database: Database, clock: FakeClock, mode: str, gate: Gate
) -> None:
    server = build_server(make_engine(database, held_pack(gate), clock=clock))
    async with client_of(server, mode) as client:
        await call(client, "get_heartbeat_status")
        clock.advance(timedelta(minutes=1))  # every check is due: the loop starts a scheduled cycle
        await anyio.to_thread.run_sync(gate.entered.wait, 5)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                answers: list[dict[str, Any]] = []

                async def trigger() -> None:
                    answers.append(await call(client, "trigger_heartbeat_cycle", task="held scan"))

                group.start_soon(trigger)
                await anyio.sleep(0.2)
                assert answers == []
                gate.opened.set()
    assert [r["task"] for r in answers[0]["runs"]] == ["held_scan"]
    assert len(runs_of(database, "held_scan")) == 1
    assert runs_of(database, "held_scan")[0].trigger == "schedule"


# --- report -----------------------------------------------------------------------------


async def test_what_did_the_last_cycle_find_gives_the_count_the_top_item_and_the_cycle(connect, clock: FakeClock) -> None:
    async with connect() as client:
        before = await call(client, "get_heartbeat_report")
        clock.advance(1)
        await call(client, "trigger_heartbeat_cycle")
        found = await call(client, "get_heartbeat_report")
    assert before["speech"] == "No items need attention. No heartbeat cycle has finished yet."
    # The agent has asked before: what is new comes first, and the cycle sentence no longer fits in 40 words.
    assert found["speech"] == f"4 items need attention, 2 urgent or high, 4 new since you last asked; the top one: {TOP_ITEM}"
    assert found["report"]["action_item_counts"] == {"low": 1, "medium": 1, "high": 1, "urgent": 1}
    assert found["report"]["action_items"][0]["message"] == TOP_ITEM


FILTERS = [
    ({"group": "listings"}, {"stale_listings", "stale_offers"},
     "Listings checks: 3 items need attention, 1 urgent or high; "
     "the top one: 12 Oak Street has had no activity for 9 days."),
    ({"task": "signing deadlines"}, {"signing_deadlines"},
     f"Signing deadlines: 1 item needs attention, none new since you last asked; the top one: {TOP_ITEM}"),
    ({"min_priority": "high"}, {"signing_deadlines", "stale_listings"},
     f"2 high-priority items need attention, none new since you last asked; the top one: {TOP_ITEM}"),
    ({"min_priority": "Important"}, {"signing_deadlines", "stale_listings"}, "2 high-priority items"),
    ({"group": "listings", "min_priority": "urgent"}, set(), "Listings checks: no urgent items need attention."),
    ({"group": "market watch"}, set(), "Market watch checks: no items need attention."),
]


async def test_any_action_items_can_be_asked_by_group_task_and_priority(connect, subtests) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        for filters, tasks, says in FILTERS:
            found = await call(client, "get_heartbeat_report", **filters)
            with subtests.test(str(filters)):
                assert {i["task"] for i in found["report"]["action_items"]} == tasks
                assert sum(found["report"]["action_item_counts"].values()) == len(found["report"]["action_items"])
                assert found["speech"].startswith(says) and speakable(found["speech"]), found["speech"]


# --- one engine for every connection ----------------------------------------------------


async def test_concurrent_clients_share_one_running_engine_and_it_stops_after_the_last(
    database: Database, clock: FakeClock, mode: str
) -> None:
    engine = make_engine(database, clock=clock)
    host = EngineHost(engine)
    server = build_server(engine, host)
    other_mode = "legacy" if mode == "auto" else "auto"
    async with client_of(server, mode) as first:
        async with client_of(server, other_mode) as second:
            assert host.users == 2 and engine.running
            a, b = await call(first, "get_heartbeat_status"), await call(second, "get_heartbeat_status")
            assert a["state"] == b["state"] == "running" and a["replicas"] == 1
        assert host.users == 1 and engine.running
        ran = await call(first, "trigger_heartbeat_cycle")
        assert ran["tasks_run"] == 5
    assert host.users == 0 and not engine.running and replicas(database) == 0


async def test_the_engine_moves_to_the_remaining_client_when_the_one_running_it_leaves(
    database: Database, clock: FakeClock, mode: str
) -> None:
    engine = make_engine(database, clock=clock)
    host = EngineHost(engine)
    server = build_server(engine, host)
    entered, leave, left = anyio.Event(), anyio.Event(), anyio.Event()

    async def first_client() -> None:  # enters first, so the engine runs in its task group
        async with client_of(server, mode) as client:
            await call(client, "get_heartbeat_status")
            entered.set()
            await leave.wait()
        left.set()  # its lifespan has been left: the engine has moved by now

    async with anyio.create_task_group() as group:
        group.start_soon(first_client)
        await entered.wait()
        async with client_of(server, mode) as second:
            leave.set()
            await left.wait()
            assert host.users == 1 and engine.running and replicas(database) == 1
            status = await call(second, "get_heartbeat_status")
            assert status["state"] == "running" and status["replicas"] == 1
            clock.advance(timedelta(minutes=1))  # the loop, now in the second client's task group, runs what is due
            await eventually(lambda: runs_of(database, "stale_listings"))
    assert not engine.running


async def test_a_second_engine_on_the_same_sqlite_file_is_refused_while_one_serves(catalogue, tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    async with catalogue() as client:
        await call(client, "get_heartbeat_status")
        with pytest.raises(EngineLocked):
            async with make_engine(database).standalone():
                pass
    async with make_engine(database).standalone():
        pass  # free again once the last client left
    database.dispose()


# --- acknowledging and snoozing ---------------------------------------------------------


def item_states(database: Database) -> dict[str, tuple[Any, Any]]:
    from heartbeat_mcp.models import ActionItemRow

    with database.sessions() as session:
        return {r.subject: (r.acknowledged_at, r.snoozed_until) for r in session.scalars(select(ActionItemRow))}


def item_id(report: dict[str, Any], subject_task: str) -> int:
    return next(i["id"] for i in report["report"]["action_items"] if i["task"] == subject_task)


async def test_acknowledging_by_id_by_task_and_all(connect, database: Database, clock: FakeClock) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        report = await call(client, "get_heartbeat_report")
        urgent = item_id(report, "signing_deadlines")

        one = await call(client, "acknowledge_action_items", ids=[urgent])
        assert one["acknowledged"] == [urgent] and speakable(one["speech"])
        assert one["speech"] == "Acknowledged 1 item; I won't repeat them unless they get more urgent."
        listings = await call(client, "acknowledge_action_items", task="listings")
        assert len(listings["acknowledged"]) == 3 and listings["target"]["kind"] == "group"
        assert listings["speech"].startswith("Acknowledged 3 items from listings checks")
        rest = await call(client, "acknowledge_action_items", ids="all")
        assert rest["acknowledged"] == [] and rest["speech"].startswith("Nothing new to acknowledge")
    assert all(acknowledged == START for acknowledged, _ in item_states(database).values())


ITEM_REFUSALS = [
    ("no items named", "acknowledge_action_items", {}, ["Say which items"]),
    ("unknown id", "acknowledge_action_items", {"ids": [1, 999]}, ["Action item 999 is not open"]),
    ("unknown task", "acknowledge_action_items", {"task": "open houses"}, ["no task called 'open houses'"]),
    ("unknown item", "snooze_action_item", {"id": 999, "duration": "two hours"}, ["Action item 999 is not open"]),
    ("snooze banana", "snooze_action_item", {"id": 1, "duration": "whenever"}, ["'whenever' is not a time or duration"]),
    ("snooze forever", "snooze_action_item", {"id": 1, "duration": "until I say so"}, ["how long to snooze it"]),
]


async def test_acknowledging_or_snoozing_what_cannot_be_is_a_spoken_error_and_changes_nothing(
    connect, database: Database, subtests
) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        for case, tool, arguments, says in ITEM_REFUSALS:
            before = item_states(database)
            message = await refusal(client, tool, **arguments)
            with subtests.test(case):
                assert item_states(database) == before
                assert speakable(message), message
                for words in says:
                    assert words in message, message


async def test_snoozing_an_item_says_until_when_and_what(connect, database: Database) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        urgent = item_id(await call(client, "get_heartbeat_report"), "signing_deadlines")
        snoozed = await call(client, "snooze_action_item", id=urgent, duration="until tomorrow morning")
    assert snoozed["speech"] == f"Snoozed until tomorrow at 8 AM. {TOP_ITEM}"
    assert snoozed["task"] == "signing_deadlines"
    assert item_states(database)["contract:3"][1] == START.replace(hour=12, minute=0) + timedelta(days=1)
