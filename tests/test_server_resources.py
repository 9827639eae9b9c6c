"""Resources, subscriptions and prompts, in both protocol eras and on both databases."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

import anyio
import pytest
from mcp import MCPError
from mcp.shared.exceptions import MCPDeprecationWarning

from heartbeat_mcp.clock import FakeClock
from tests.server_fixtures import (  # noqa: F401 - catalogue, clock, connect, engine, mode, server: fixtures
    TASK_NAMES, call, catalogue, client_of, clock, connect, engine, mode, resource_updates, server, speakable, told_of,
)

pytestmark = pytest.mark.anyio

STATUS, REPORT, BRIEFING = "heartbeat://status", "heartbeat://report/latest", "heartbeat://report/latest.md"
ACTION_ITEMS, TASKS = "heartbeat://action-items", "heartbeat://tasks"
NOTIFICATIONS = "heartbeat://notifications"
RESOURCES = {STATUS: "application/json", REPORT: "application/json", BRIEFING: "text/markdown",
             ACTION_ITEMS: "application/json", TASKS: "application/json", NOTIFICATIONS: "application/json"}
TOP_ITEM = "The purchase agreement for 12 Oak Street is overdue by 3 days."
LOW_ITEM = "The offer on 7 Pine Lane has waited 2 days for an answer."


async def read(client, uri: str) -> str:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1
    return contents[0].text


async def read_json(client, uri: str) -> object:
    return json.loads(await read(client, uri))


async def prompt_text(client, name: str, **arguments: str) -> str:
    messages = (await client.get_prompt(name, arguments or None)).messages
    assert [m.role for m in messages] == ["user"]
    return messages[0].content.text


# --- declared -----------------------------------------------------------------------------


async def test_the_resources_and_the_task_template_are_listed_with_their_types(catalogue) -> None:
    async with catalogue() as client:
        listed = {str(r.uri): r.mime_type for r in (await client.list_resources()).resources}
        templates = {t.uri_template: t.mime_type for t in (await client.list_resource_templates()).resource_templates}
    assert listed == RESOURCES
    assert templates == {"heartbeat://tasks/{name}": "application/json"}


async def test_the_two_prompts_are_listed_with_their_argument(catalogue) -> None:
    async with catalogue() as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"morning_briefing", "what_needs_attention"}
    assert not prompts["morning_briefing"].arguments
    [floor] = prompts["what_needs_attention"].arguments
    assert (floor.name, floor.required) == ("min_priority", False) and "urgent" in floor.description


# --- read -----------------------------------------------------------------------------------


async def test_the_status_resource_is_what_the_status_tool_says(connect) -> None:
    async with connect() as client:
        await call(client, "pause_heartbeat", task="market watch", duration="two hours")
        told = await call(client, "get_heartbeat_status")
        shown = await read_json(client, STATUS)
    shown.pop("uptime_seconds"), told.pop("uptime_seconds")  # the only field that moves between two reads
    assert shown == told
    assert shown["tasks_paused"] == ["price_drops"] and speakable(shown["speech"])


async def test_the_latest_report_is_json_and_its_briefing_is_markdown(connect) -> None:
    async with connect() as client:
        empty = await read_json(client, REPORT)
        await call(client, "trigger_heartbeat_cycle")
        report = await read_json(client, REPORT)
        briefing = await read(client, BRIEFING)
    assert empty["last_cycle"] is None and empty["action_items"] == []
    assert report["status"] == "action_needed" and report["tasks_executed"] == 5
    assert report["action_items"][0]["message"] == TOP_ITEM
    assert sorted(report["last_cycle_tasks"]) == sorted(TASK_NAMES)
    assert briefing.startswith("# Heartbeat briefing")
    urgent = briefing.index("## Urgent (1)")
    high, record = briefing.index("## High priority (1)"), briefing.index("## For the record (1)")
    assert urgent < briefing.index(TOP_ITEM, urgent) < high < record


async def test_the_action_items_resource_lists_open_items_most_urgent_first(connect) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        found = await read_json(client, ACTION_ITEMS)
    assert found["counts"] == {"low": 1, "medium": 1, "high": 1, "urgent": 1}
    assert [i["priority"] for i in found["items"]] == ["urgent", "high", "medium", "low"]
    assert found["items"][0]["message"] == TOP_ITEM and found["items"][0]["affected_contracts"] == [3]


async def test_the_tasks_resource_shows_every_check_with_its_group_and_switches(connect) -> None:
    async with connect() as client:
        await call(client, "configure_heartbeat_task", task="market watch", enabled=False)
        tasks = {t["name"]: t for t in await read_json(client, TASKS)}
    assert list(tasks) == TASK_NAMES
    assert tasks["price_drops"]["enabled"] is False and tasks["stale_listings"]["enabled"] is True
    deadlines = tasks["signing_deadlines"]
    assert (deadlines["group"], deadlines["schedule"]) == ("Paperwork", "every 15 minutes")
    assert tasks["stale_listings"]["spoken_name"] == "stale listings"
    assert tasks["stale_listings"]["description"] == "Flag listings with no recent activity"


async def test_one_task_shows_its_configuration_and_recent_runs(connect, clock: FakeClock) -> None:
    async with connect() as client:
        await call(client, "pause_heartbeat")  # only the runs asked for: a trigger runs even while paused
        await call(client, "trigger_heartbeat_cycle", task="stale listings")
        clock.advance(timedelta(minutes=2))
        await call(client, "trigger_heartbeat_cycle")
        task = await read_json(client, "heartbeat://tasks/stale_listings")
    assert (task["name"], task["group"], task["schedule"]) == ("stale_listings", "Listings", "every cycle")
    assert task["enabled"] is True
    assert (task["priority"], task["timeout_seconds"], task["open_items"]) == ("medium", 60.0, 2)
    assert [(r["trigger"], r["status"], r["item_count"]) for r in task["recent_runs"]] == \
        [("manual", "action_needed", 2)] * 2


@pytest.mark.parametrize("name, says", [
    ("stale_listngs", "Did you mean stale listings"), ("listings", "not a single task"),
    ("open_houses", "no task called 'open_houses'"),
])
async def test_a_name_that_is_not_one_task_is_a_resource_error_that_says_why(connect, name: str, says: str) -> None:
    async with connect() as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(f"heartbeat://tasks/{name}")
    assert says in refused.value.error.message
    assert "Traceback" not in refused.value.error.message


# --- told of changes ------------------------------------------------------------------------


async def test_after_every_cycle_subscribers_are_told_the_report_and_action_items_changed(
    connect, clock: FakeClock
) -> None:
    async with resource_updates(connect, [REPORT, ACTION_ITEMS, BRIEFING]) as (client, updates):
        await call(client, "trigger_heartbeat_cycle", task="paperwork")
        assert await told_of(updates, {REPORT, ACTION_ITEMS, BRIEFING}) == {REPORT, ACTION_ITEMS, BRIEFING}
        clock.advance(timedelta(minutes=1))  # every check is due: the loop runs a scheduled cycle
        assert await told_of(updates, {REPORT, ACTION_ITEMS}) <= {REPORT, ACTION_ITEMS, BRIEFING}
        report = await read_json(client, REPORT)
    assert report["last_cycle"] == clock.now().isoformat().replace("+00:00", "Z")


async def test_a_pause_tells_status_subscribers_and_no_one_else(connect) -> None:
    async with resource_updates(connect, [STATUS, REPORT]) as (client, updates):
        await call(client, "pause_heartbeat", task="listings")
        assert await told_of(updates, {STATUS}) == {STATUS}
        with anyio.move_on_after(0.2):
            assert await updates.receive() != REPORT


async def test_an_unsubscribed_client_is_told_nothing_more(server) -> None:
    """resources/unsubscribe belongs to the handshake era (a modern client closes its listen stream)."""
    async with resource_updates(lambda **kw: client_of(server, "legacy", **kw), [REPORT]) as (client, updates):
        await call(client, "trigger_heartbeat_cycle", task="paperwork")
        await told_of(updates, {REPORT})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.unsubscribe_resource(REPORT)
        await call(client, "trigger_heartbeat_cycle", task="paperwork")
        with anyio.move_on_after(0.2) as quiet:
            await updates.receive()
    assert quiet.cancelled_caught


async def test_a_subscriber_that_left_does_not_hold_up_the_next_cycle(connect) -> None:
    async with resource_updates(connect, [REPORT]) as (client, updates):
        await call(client, "trigger_heartbeat_cycle", task="paperwork")
        await told_of(updates, {REPORT})
    async with resource_updates(connect, [REPORT]) as (client, updates):
        with anyio.fail_after(1.5):  # well under the two seconds a stalled subscriber may take
            await call(client, "trigger_heartbeat_cycle", task="paperwork")
        await told_of(updates, {REPORT})


# --- prompts --------------------------------------------------------------------------------


async def test_the_morning_briefing_embeds_the_current_findings(connect) -> None:
    async with connect() as client:
        before = await prompt_text(client, "morning_briefing")
        await call(client, "trigger_heartbeat_cycle")
        text = await prompt_text(client, "morning_briefing")
    assert "hasn't finished a cycle yet" in before
    assert text.startswith("Give me my morning briefing")
    assert "4 items need attention" in text and text.index(TOP_ITEM) < text.index(LOW_ITEM)
    assert "while driving" in text


@pytest.mark.parametrize("floor, shown, hidden", [
    (None, [TOP_ITEM, "12 Oak Street has had no activity for 9 days.", "40 Elm Road"], [LOW_ITEM]),
    ("urgent", [TOP_ITEM], ["40 Elm Road", LOW_ITEM]),
    ("low", [TOP_ITEM, LOW_ITEM], []),
])
async def test_what_needs_attention_embeds_the_open_items_at_or_above_a_priority(
    connect, floor: str | None, shown: list[str], hidden: list[str]
) -> None:
    async with connect() as client:
        await call(client, "trigger_heartbeat_cycle")
        text = await prompt_text(client, "what_needs_attention", **({"min_priority": floor} if floor else {}))
    for message in shown:
        assert message in text
    for message in hidden:
        assert message not in text
    assert text.index(TOP_ITEM) == min(text.index(m) for m in shown)
    assert "(from the signing deadlines check)" in text


# --- what the heartbeat finds reaches connected clients ----------------------------------


async def test_findings_reach_connected_clients_as_log_messages_and_in_the_notifications_resource(server) -> None:
    import mcp_types

    logged: list[tuple[str, str]] = []

    async def on_message(message: object) -> None:
        if isinstance(message, mcp_types.LoggingMessageNotification):
            logged.append((message.params.level, message.params.data["message"]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)  # logging is deprecated for the modern era only
        async with client_of(server, "legacy", message_handler=on_message) as client:
            await call(client, "trigger_heartbeat_cycle")
            with anyio.fail_after(5):
                while len(logged) < 4:
                    await anyio.sleep(0.02)
                # A delivery is recorded once the message is sent: the last one may still be on its way to the database.
                while not _all_delivered(told := await read_json(client, NOTIFICATIONS)):
                    await anyio.sleep(0.02)

    assert sorted(logged) == sorted([
        ("alert", TOP_ITEM), ("warning", "12 Oak Street has had no activity for 9 days."),
        ("notice", "40 Elm Road has had no activity for 4 days."), ("info", LOW_ITEM),
    ])
    assert {n["message"] for n in told} == {message for _, message in logged}
    assert all(n["channels"] for n in told)


def _all_delivered(notifications: list[dict]) -> bool:
    return all(state == "delivered" for n in notifications for state in n["channels"].values())


async def test_a_modern_client_hears_that_the_notifications_changed(connect) -> None:
    async with resource_updates(connect, [NOTIFICATIONS, ACTION_ITEMS]) as (client, updates):
        await call(client, "trigger_heartbeat_cycle")
        assert {NOTIFICATIONS, ACTION_ITEMS} <= await told_of(updates, {NOTIFICATIONS, ACTION_ITEMS})
