"""Named, frozen search configurations shipped with molspace.

``pmo``: the search used for the PMO benchmark, chosen on PMO's two tuning tasks only and
then frozen (``molspace/data/presets/pmo.toml``). ``molspace optimize --pmo TASK`` without
a config file runs it, and ``benchmarks/pmo.py`` takes its defaults from it, so a
reported run and a user's run of the same task search the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PMO_PRESET", "preset_optimize_table"]

PMO_PRESET = Path(__file__).resolve().parents[1] / "data" / "presets" / "pmo.toml"


def preset_optimize_table(path: Path = PMO_PRESET) -> dict[str, Any]:
    """The ``[optimize]`` table of a preset file (validated by the caller)."""
    from molspace.config import read_toml

    return dict(read_toml(path).get("optimize", {}))
