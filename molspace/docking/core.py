"""The docking step, pure in its contract: a table of molecules in, the same rows out.

``dock_table(table, target, settings)`` keeps every input row, in order, and adds
``status`` (``ok``/``rejected``), ``reason``, ``score`` (Vina's best pose, kcal/mol),
``ligand_efficiency`` (−score per heavy atom), ``n_heavy``, ``n_poses``, ``poses``
(SD text of the poses, best first) and ``dock_seconds``. A molecule that cannot be
parsed, embedded, prepared or docked in time becomes a ``rejected`` row with its
reason; nothing raises for a bad molecule, so one never costs a partition.

Vina runs in a child process per thread (:mod:`molspace.docking.vina_process`),
kept between calls, so the receptor maps are computed once per worker thread.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pandas as pd

from molspace.docking.ligand import prepare_ligand
from molspace.docking.settings import DockingSettings, require_docking_packages
from molspace.docking.target import TargetBundle
from molspace.docking.vina_process import DockTimeout, VinaCrash, VinaProcess

__all__ = ["DOCK_COLUMNS", "close_engines", "dock_one", "dock_table"]

DOCK_COLUMNS = (
    "status",
    "reason",
    "score",
    "ligand_efficiency",
    "n_heavy",
    "n_poses",
    "poses",
    "dock_seconds",
)

_local = threading.local()


def _engine(target: TargetBundle, settings: DockingSettings) -> VinaProcess:
    """This thread's Vina process for this target and scoring (started on first use)."""
    engines: dict[tuple[Any, ...], VinaProcess] = _local.__dict__.setdefault("engines", {})
    key = (target.key, settings.scoring, settings.seed)
    if key not in engines:
        for other in engines.values():  # one child per thread: a new target replaces the old
            other.close()
        engines.clear()
        engines[key] = VinaProcess(
            target.receptor_pdbqt,
            list(target.box.center),
            list(target.box.size),
            scoring=settings.scoring,
            seed=settings.seed,
        )
    return engines[key]


def close_engines() -> None:
    """Stop this thread's Vina child (tests and the end of a run; idempotent)."""
    for engine in _local.__dict__.get("engines", {}).values():
        engine.close()
    _local.__dict__["engines"] = {}


def _rejected(reason: str, n_heavy: int, seconds: float) -> dict[str, Any]:
    return {
        "status": "rejected",
        "reason": reason,
        "score": math.nan,
        "ligand_efficiency": math.nan,
        "n_heavy": n_heavy,
        "n_poses": 0,
        "poses": None,
        "dock_seconds": round(seconds, 3),
    }


def dock_one(
    ident: str, smiles: str, target: TargetBundle, settings: DockingSettings
) -> dict[str, Any]:
    """Dock one molecule; the docking columns of its row (never raises for its chemistry)."""
    from molspace.docking.poses import pose_molecules, poses_to_sdf

    started = time.perf_counter()
    ligand = prepare_ligand(
        smiles,
        seed=settings.seed,
        max_heavy_atoms=settings.max_heavy_atoms,
        max_rotatable_bonds=settings.max_rotatable_bonds,
        embed_timeout=settings.time_limit,
    )
    if ligand.pdbqt is None:
        return _rejected(ligand.reason or "preparation", ligand.n_heavy, 0.0)
    engine = _engine(target, settings)
    try:
        result = engine.dock(
            ligand.pdbqt,
            exhaustiveness=settings.exhaustiveness,
            n_poses=settings.n_poses,
            energy_range=settings.energy_range,
            time_limit=settings.time_limit,
        )
    except DockTimeout:
        return _rejected(
            f"time_limit: Vina search exceeded {settings.time_limit:g} s",
            ligand.n_heavy,
            time.perf_counter() - started,
        )
    except VinaCrash as exc:
        return _rejected(f"docking: {exc}", ligand.n_heavy, time.perf_counter() - started)
    if result.error is not None or not result.energies:
        reason = f"docking: {result.error or 'Vina returned no pose'}"
        return _rejected(reason, ligand.n_heavy, time.perf_counter() - started)
    scores = [row[0] for row in result.energies]
    try:
        poses = poses_to_sdf(pose_molecules(result.poses), ident, scores, smiles)
    except Exception as exc:  # Meeko's export raises plain exceptions
        reason = f"poses: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        return _rejected(reason, ligand.n_heavy, time.perf_counter() - started)
    best = float(scores[0])
    if not math.isfinite(best):
        return _rejected("docking: non-finite score", ligand.n_heavy, 0.0)
    return {
        "status": "ok",
        "reason": None,
        "score": best,
        "ligand_efficiency": -best / ligand.n_heavy if ligand.n_heavy else math.nan,
        "n_heavy": ligand.n_heavy,
        "n_poses": len(scores),
        "poses": poses,
        "dock_seconds": round(time.perf_counter() - started, 3),
    }


def dock_table(
    table: pd.DataFrame,
    target: TargetBundle,
    settings: DockingSettings | None = None,
    *,
    smiles_column: str = "smiles",
    id_column: str = "id",
) -> pd.DataFrame:
    """Dock every row of ``table``; returns it with the docking columns added (same order)."""
    require_docking_packages()
    settings = settings or DockingSettings()
    rows = [
        dock_one(str(ident), smiles, target, settings)
        for ident, smiles in zip(table[id_column], table[smiles_column], strict=True)
    ]
    docked = pd.DataFrame(rows, columns=list(DOCK_COLUMNS), index=table.index)
    kept = table.drop(columns=[c for c in DOCK_COLUMNS if c in table.columns])
    out = pd.concat([kept, docked], axis=1)
    out["score"] = out["score"].astype("float64")
    out["ligand_efficiency"] = out["ligand_efficiency"].astype("float64")
    out["n_heavy"] = out["n_heavy"].astype("int64")
    out["n_poses"] = out["n_poses"].astype("int64")
    return out
