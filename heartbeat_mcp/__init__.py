"""heartbeat-mcp: a proactive heartbeat engine served to voice assistants over MCP.

The engine (this package) knows nothing about real estate; check packs such as
`checks` register tasks with it, and the MCP layer in `heartbeat_mcp.server`
exposes the live engine to clients.
"""

__version__ = "0.1.0"
