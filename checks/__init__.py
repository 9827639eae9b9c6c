"""The realtor check pack: the heartbeat's checks for a real-estate agent's portfolio.

Each group of domain.md is one module; importing it registers its checks.
"""

from __future__ import annotations

from pathlib import Path

from checks import digest, market, portfolio, predictive, relationships, scheduled, system  # noqa: F401
from checks.registry import CHECKS
from checks.schema import RealtorBase
from checks.seed import seed_portfolio
from heartbeat_mcp.task import CheckPack


def _default_checklist() -> Path:
    """The packaged HEARTBEAT.md (wheel) or the repository's own (checkout)."""
    packaged = Path(__file__).parent / "HEARTBEAT.md"
    return packaged if packaged.is_file() else Path(__file__).parent.parent / "HEARTBEAT.md"


pack = CheckPack(
    name="realtor",
    tasks=tuple(CHECKS),
    metadata=RealtorBase.metadata,
    migrations=Path(__file__).parent / "migrations",
    checklist=_default_checklist(),
    seed=seed_portfolio,
)
