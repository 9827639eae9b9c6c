#!/usr/bin/env bash
# Talk to the server with a real third-party MCP client, the MCP Inspector in CLI mode (it speaks the
# initialize-handshake era, like most desktop clients): list the tools, then call get_heartbeat_status.
# The server runs from this checkout's .venv (`make install`) on a throw-away SQLite database.
# Needs Node 20+ for npx. HEARTBEAT_CHECKLIST, when set, is passed on to the server; so is HEARTBEAT_TIMEZONE.
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
server="$checkout/.venv/bin/heartbeat-mcp"
if [ ! -x "$server" ]; then
  echo "inspector_check: $server is missing; run \`make install\` first" >&2
  exit 1
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
settings=(-e "HEARTBEAT_DATABASE_URL=sqlite:///$workdir/heartbeat.db")
for name in HEARTBEAT_CHECKLIST HEARTBEAT_TIMEZONE; do
  if [ -n "${!name:-}" ]; then settings+=(-e "$name=${!name}"); fi
done
inspector=(npx -y @modelcontextprotocol/inspector@0.21.1 --cli "${settings[@]}" "$server" serve)

echo "== tools/list"
"${inspector[@]}" --method tools/list | tee "$workdir/tools.json"
echo
echo "== tools/call get_heartbeat_status"
"${inspector[@]}" --method tools/call --tool-name get_heartbeat_status | tee "$workdir/status.json"
echo

# The Inspector exits 0 even for a tool error, so check the answers themselves.
"$checkout/.venv/bin/python" - "$workdir/tools.json" "$workdir/status.json" <<'PY'
import json, sys

tools = {t["name"] for t in json.load(open(sys.argv[1]))["tools"]}
expected = {"get_heartbeat_status", "trigger_heartbeat_cycle", "pause_heartbeat", "resume_heartbeat",
            "configure_heartbeat_task", "get_heartbeat_report", "acknowledge_action_items", "snooze_action_item"}
status = json.load(open(sys.argv[2]))
problems = [f"tools differ: {sorted(tools ^ expected)}"] if tools != expected else []
if status.get("isError") or "speech" not in (status.get("structuredContent") or {}):
    problems.append("get_heartbeat_status did not answer with a speech field")
if problems:
    sys.exit("inspector_check: " + "; ".join(problems))
print(f"inspector_check: ok: {len(tools)} tools; status says: {status['structuredContent']['speech']}")
PY
