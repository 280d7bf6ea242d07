"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dhfr_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1s3v (human DHFR) with a box only 2 Å larger than the crystal ligand: a target
    bundle small enough that Vina docks in seconds."""
    from molspace.docking.target import prepare_target

    shipped = Path(__file__).resolve().parents[1] / "libraries" / "targets" / "1s3v"
    out = tmp_path_factory.mktemp("target") / "1s3v-small"
    prepare_target(shipped / "protein.pdb.gz", shipped / "ligand.sdf", out, padding=2.0)
    return out
