"""Finding check packs: installed packages declare them in an entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from heartbeat_mcp.task import CheckPack

ENTRY_POINT_GROUP = "heartbeat_mcp.checks"


def load_packs() -> tuple[CheckPack, ...]:
    packs = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        pack = entry.load()
        if not isinstance(pack, CheckPack):
            raise TypeError(f"entry point {entry.name!r} in {ENTRY_POINT_GROUP} is not a CheckPack")
        packs.append(pack)
    return tuple(packs)
