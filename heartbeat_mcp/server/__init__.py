"""The MCP layer: the live engine served to voice assistants.

It knows the engine's API and nothing about the checks it runs. `build_server`
makes the `MCPServer` (tools, resources, prompts, health routes) around one
engine; `run.serve` is `heartbeat-mcp serve`.
"""

from heartbeat_mcp.server.app import build_server

__all__ = ["build_server"]
