"""Docking settings: validated, hashable, the same in every worker."""

from __future__ import annotations

import hashlib

from pydantic import Field

from molspace.config import StrictModel

__all__ = ["DockingSettings", "require_docking_packages"]


def require_docking_packages() -> None:
    """Fail with one line when the optional ``docking`` extra is not installed."""
    from importlib.util import find_spec

    from molspace.errors import ConfigError

    missing = [name for name in ("vina", "meeko", "gemmi") if find_spec(name) is None]
    if missing:
        raise ConfigError(f"docking needs {', '.join(missing)}: pip install 'molspace[docking]'")


class DockingSettings(StrictModel):
    """How each molecule is docked.

    ``time_limit`` bounds one molecule's Vina search in seconds: Vina runs in a
    child process that is killed when the limit passes (a C++ call cannot be
    interrupted from Python), and the molecule becomes a reject with the reason
    ``time_limit``. ``seed`` feeds both RDKit's ETKDG conformer and Vina's
    search (the same ligand docked twice in one Vina process gives the same poses;
    small score differences have been seen between processes that docked other
    molecules before, so do not expect bit-identical scores across runs).
    """

    exhaustiveness: int = Field(default=8, ge=1, le=64, description="Vina Monte Carlo runs")
    n_poses: int = Field(default=9, ge=1, le=50, description="poses kept per molecule")
    seed: int = Field(default=0, ge=0, description="ETKDG and Vina seed")
    time_limit: float = Field(default=300.0, gt=0, description="seconds per molecule (Vina search)")
    max_heavy_atoms: int = Field(default=70, ge=1, description="larger molecules are rejects")
    max_rotatable_bonds: int = Field(
        default=20, ge=0, description="more flexible molecules are rejects"
    )
    energy_range: float = Field(default=3.0, gt=0, description="kcal/mol above the best pose kept")
    scoring: str = Field(default="vina", pattern="^(vina|vinardo)$")

    def settings_hash(self) -> str:
        """Short hash of every field: part of a docking run's resume key."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
