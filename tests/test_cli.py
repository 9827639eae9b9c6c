"""The `heartbeat-mcp` command as an operator meets it: settings, schema, run-once, checklist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat_mcp.checklist import parse_checklist
from tests.conftest import drop_postgres

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEARTBEAT_")}
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_mcp.cli", *args], capture_output=True, text=True,
        env={**clean, **(env or {})}, timeout=timeout, cwd=REPO,
    )


@pytest.mark.parametrize(
    "variable, value, says",
    [
        ("HEARTBEAT_INTERVAL_SECONDS", "banana", "HEARTBEAT_INTERVAL_SECONDS='banana' is not valid: expected a whole number of seconds"),
        ("HEARTBEAT_TIMEZONE", "Mars/Base", "HEARTBEAT_TIMEZONE='Mars/Base' is not valid: expected an IANA time zone name"),
        ("HEARTBEAT_DATABASE_URL", "postgresql://heartbeat:s3cret@127.0.0.1:9/nowhere", "HEARTBEAT_DATABASE_URL='postgresql://heartbeat:***@127.0.0.1:9/nowhere' is not valid: expected a database that can be reached"),
        ("HEARTBEAT_CHECKLIST", "/nonexistent/HEARTBEAT.md", "HEARTBEAT_CHECKLIST='/nonexistent/HEARTBEAT.md' is not valid: expected the path of an existing HEARTBEAT.md file"),
        ("HEARTBEAT_LOG_LEVEL", "LOUD", "HEARTBEAT_LOG_LEVEL='LOUD' is not valid"),
        ("HEARTBEAT_HTTP_TOKEN", "short", "HEARTBEAT_HTTP_TOKEN=(hidden) is not valid"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["run-once"], ["serve"]])
def test_a_bad_setting_exits_2_with_one_clear_line(tmp_path, variable: str, value: str, says: str, command: list[str]) -> None:
    env = {"HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", variable: value}
    result = cli(*command, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0]
    assert "s3cret" not in result.stderr and "short" not in result.stderr.replace("HEARTBEAT_HTTP_TOKEN", "")
    assert not (tmp_path / "h.db").exists() or variable == "HEARTBEAT_CHECKLIST"


def test_a_flag_wins_over_its_variable_and_is_named_when_bad(tmp_path) -> None:
    result = cli("status", "--interval-seconds", "5", env={"HEARTBEAT_INTERVAL_SECONDS": "600",
                                                          "HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"})
    assert result.returncode == 2 and result.stderr.startswith("heartbeat-mcp: --interval-seconds='5' is not valid")


def test_a_malformed_checklist_names_file_line_and_fix(tmp_path) -> None:
    checklist = tmp_path / "HEARTBEAT.md"
    checklist.write_text("# HEARTBEAT.md\n\n## Portfolio monitoring (every cycle)\n- [x] Flag stale properties\n")
    result = cli("run-once", env={"HEARTBEAT_CHECKLIST": str(checklist), "HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"})
    assert result.returncode == 2
    assert f"{checklist} line 4:" in result.stderr and "Fix:" in result.stderr


def test_db_upgrade_and_a_postgres_database_behind_the_schema(postgres_template: str) -> None:
    import psycopg

    from tests.conftest import _admin_conninfo, _with_database

    name = "heartbeat_test_cli_empty"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(name)
    try:
        refused = cli("run-once", env={"HEARTBEAT_DATABASE_URL": url})
        assert refused.returncode == 2
        assert "is behind this version's schema: run `heartbeat-mcp db upgrade` first" in refused.stderr
        upgraded = cli("db", "upgrade", env={"HEARTBEAT_DATABASE_URL": url})
        assert upgraded.returncode == 0, upgraded.stderr
        status = cli("status", "--json", env={"HEARTBEAT_DATABASE_URL": url})
        assert status.returncode == 0 and json.loads(status.stdout)["database"] == "ok"
    finally:
        drop_postgres(url)


def test_an_empty_embedded_database_is_upgraded_on_first_use(tmp_path) -> None:
    result = cli("status", "--json", env={"HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'h.db'}"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tasks_total"] == 0  # no engine has run here yet
    assert (tmp_path / "fresh" / "h.db").exists()


def test_run_once_json_prints_only_the_report(tmp_path) -> None:
    env = {"HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    assert cli("seed", "--properties", "60", "--seed", "3", env=env).returncode == 0
    result = cli("run-once", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"status", "last_cycle", "cycle_duration_ms", "tasks_executed", "tasks_failed",
                           "action_items", "system_health", "speech"}
    assert report["tasks_failed"] == 0
    assert report["system_health"]["mcp_server"] == "not_running"
    assert report["speech"].count(".") <= 3


def test_run_once_named_tasks_and_unknown_name(tmp_path) -> None:
    env = {"HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    result = cli("run-once", "--json", "--task", "relationship health", env=env)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["last_cycle_tasks"]) == {
        "relationship_scores", "cooling_relationships", "overdue_follow_ups", "contacts_needing_outreach"}
    forgiven = cli("run-once", "--json", "--task", "stale propertys", env=env)  # said, not spelled
    assert forgiven.returncode == 0 and json.loads(forgiven.stdout)["last_cycle_tasks"] == ["stale_properties"]
    unknown = cli("run-once", "--task", "stale propertees", env=env)
    assert unknown.returncode == 2 and "Did you mean stale properties" in unknown.stderr


def test_checklist_prints_the_effective_configuration_and_round_trips(tmp_path) -> None:
    env = {"HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    printed = cli("checklist", env=env)
    assert printed.returncode == 0, printed.stderr
    original = parse_checklist((REPO / "HEARTBEAT.md").read_text())
    assert parse_checklist(printed.stdout) == original
