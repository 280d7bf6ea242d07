"""``[screen.docking]``: dock the molecules that pass the filters, optionally a funnel.

The stage runs after the ligand-based screen, on the molecules that passed every
filter (after the global dedup), or with ``funnel_top = N`` on only the N best of
them by a cheap column (``funnel_by``; default the screen's objective ``score``).
Its Vina settings are :class:`molspace.docking.DockingSettings`; see
:mod:`molspace.screening.docking_stage` for the outputs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field

from molspace.docking.settings import DockingSettings

__all__ = ["DockingStageSpec"]


class DockingStageSpec(DockingSettings):
    """Which target, how each molecule is docked (Vina settings), and the funnel."""

    target: str = Field(
        min_length=1,
        description="a shipped target by PDB code (1s3v, ...) or a target bundle directory "
        "(relative to the config file)",
    )
    funnel_top: int | None = Field(
        None, ge=1, description="dock only the N best passing molecules by funnel_by"
    )
    funnel_by: str | None = Field(
        None, description="column ranking the funnel (default: the screen's score)"
    )
    funnel_ascending: bool = Field(False, description="smaller funnel_by is better")
    chunk_size: int = Field(4, ge=1, le=10_000, description="molecules per docking task")

    def settings(self) -> DockingSettings:
        """The Vina settings alone (what a worker needs)."""
        return DockingSettings.model_validate(
            self.model_dump(include=set(DockingSettings.model_fields))
        )

    def resolved(self, base_dir: str | Path) -> DockingStageSpec:
        """``target`` as an absolute directory when it names one relative to ``base_dir``."""
        path = Path(self.target)
        if path.is_absolute() or not (Path(base_dir) / path).is_dir():
            return self
        return self.model_copy(update={"target": str((Path(base_dir) / path).resolve())})

    def key(self, target_key: str, screen_hash: str) -> str:
        """Resume key of the docking outputs: target, settings, funnel and the screen."""
        data = self.model_dump(mode="json", exclude={"target"})
        text = json.dumps([data, target_key, screen_hash], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
