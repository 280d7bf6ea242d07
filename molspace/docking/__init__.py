"""Structure-based docking with AutoDock Vina: target bundles, ligand preparation,
``dock_table`` (a table in, the same rows out with scores and poses) and ``dock``
(a whole library on Dask, resumable). Names load lazily, so importing
``molspace.docking`` does not import Vina, Meeko or Dask.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Box",
    "DockResult",
    "DockingSettings",
    "TargetBundle",
    "dock",
    "dock_table",
    "load_target",
    "prepare_target",
    "resolve_target",
    "shipped_targets",
]

_WHERE = {
    "Box": "molspace.docking.target",
    "TargetBundle": "molspace.docking.target",
    "load_target": "molspace.docking.target",
    "prepare_target": "molspace.docking.target",
    "resolve_target": "molspace.docking.target",
    "shipped_targets": "molspace.docking.target",
    "DockingSettings": "molspace.docking.settings",
    "dock_table": "molspace.docking.core",
    "DockResult": "molspace.docking.run",
    "dock": "molspace.docking.run",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'molspace.docking' has no attribute {name!r}")
