"""Docking parts that need no Vina run: ligand preparation reasons, receptor filtering,
boxes, and target bundles (prepared for real from the shipped 1s3v protein)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from molspace.docking.ligand import prepare_ligand
from molspace.docking.receptor import filter_pdb
from molspace.docking.settings import DockingSettings
from molspace.docking.target import (
    Box,
    box_around_ligand,
    load_target,
    resolve_target,
    shipped_targets,
)
from molspace.errors import BundleError, InputError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "libraries" / "targets"


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("xyz", "parse_error"),
        ("", "empty"),
        ("CCO.[Na+].[Cl-]", "fragments"),
        ("C[Na]", "preparation"),
        ("C" * 80, "too_large"),
        ("CCCCCCCCCCCCCCCCCCCCCCCCCC", "too_flexible"),
    ],
)
def test_bad_ligands_are_reasons_not_exceptions(smiles: str, reason: str) -> None:
    result = prepare_ligand(smiles, max_heavy_atoms=70, max_rotatable_bonds=20)
    assert result.pdbqt is None
    assert result.reason is not None and result.reason.startswith(reason), result.reason


def test_ligand_keeps_the_protonation_it_is_given() -> None:
    charged = prepare_ligand("C[NH3+]", seed=1)
    neutral = prepare_ligand("CN", seed=1)
    assert charged.pdbqt is not None and neutral.pdbqt is not None
    # three polar hydrogens on the ammonium, two on the amine: nothing re-protonated
    assert charged.pdbqt.count(" HD") == 3 and neutral.pdbqt.count(" HD") == 2


def test_ligand_conformer_follows_the_seed() -> None:
    a = prepare_ligand("CC(=O)Nc1ccc(O)cc1", seed=3).pdbqt
    b = prepare_ligand("CC(=O)Nc1ccc(O)cc1", seed=3).pdbqt
    c = prepare_ligand("CC(=O)Nc1ccc(O)cc1", seed=4).pdbqt
    assert a == b and a != c


def test_filter_pdb_drops_waters_unknown_groups_and_far_residues() -> None:
    def atom(record: str, name: str, res: str, chain: str, num: int, x: float) -> str:
        return f"{record:<6}{1:>5} {name:<4} {res:>3} {chain}{num:>4}    {x:8.3f}{0:8.3f}{0:8.3f}"

    text = "\n".join(
        [
            atom("ATOM", "CA", "ALA", "A", 1, 0.0),
            atom("ATOM", "CA", "GLY", "A", 2, 60.0),  # far from the box: cropped
            atom("HETATM", "O", "HOH", "A", 3, 1.0),  # water
            atom("HETATM", "C1", "NDP", "A", 4, 2.0),  # no template: removed, named
            atom("HETATM", "ZN", "ZN", "A", 5, 3.0),  # a templated ion stays
        ]
    )
    kept, removed, cropped = filter_pdb(text, {"ALA", "GLY", "ZN", "HOH"}, np.zeros(3), np.ones(3))
    assert "ALA" in kept and "ZN" in kept and "GLY" not in kept and "HOH" not in kept
    assert removed == ["NDP A:4"] and cropped == 1


def test_box_validation_and_contains() -> None:
    box = Box((0.0, 0.0, 0.0), (10.0, 10.0, 10.0))
    assert box.contains(np.array([[4.9, -4.9, 0.0]]))
    assert not box.contains(np.array([[5.1, 0.0, 0.0]]))
    with pytest.raises(InputError):
        Box((0.0, 0.0, 0.0), (0.0, 10.0, 10.0))


def test_box_is_centred_on_the_ligand() -> None:
    ligand = SHIPPED / "1s3v" / "ligand.sdf"
    mol = Chem.MolFromMolFile(str(ligand))
    xyz = mol.GetConformer().GetPositions()
    box = box_around_ligand(ligand, padding=4.0)
    assert np.allclose(box.center, (xyz.min(0) + xyz.max(0)) / 2, atol=1e-3)
    assert np.allclose(box.size, xyz.max(0) - xyz.min(0) + 4.0, atol=1e-3)


def test_prepared_bundle_loads_and_names_its_files(dhfr_target: Path) -> None:
    target = load_target(dhfr_target)
    manifest = json.loads((dhfr_target / "target.json").read_text())
    assert set(manifest["files"]) == {"receptor.pdbqt", "ligand.sdf"}
    assert target.receptor_pdbqt.count("ATOM") > 500
    assert manifest["padding"] == 2.0 and manifest["versions"]["meeko"]
    assert target.box.contains(
        Chem.MolFromMolFile(str(dhfr_target / "ligand.sdf")).GetConformer().GetPositions()
    )


def test_tampered_bundle_is_refused(dhfr_target: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dhfr_target, copy)
    receptor = copy / "receptor.pdbqt"
    receptor.write_text(receptor.read_text().replace("ATOM", "HETATM", 1))
    with pytest.raises(BundleError, match=r"receptor\.pdbqt: sha256"):
        load_target(copy)
    receptor.unlink()
    with pytest.raises(BundleError, match="missing"):
        load_target(copy)
    with pytest.raises(BundleError, match="not a target bundle"):
        load_target(tmp_path)


def test_shipped_targets_load_by_code() -> None:
    assert set(shipped_targets()) >= {"1ia1", "1of6", "1s3v", "1uou"}
    for code in ("1ia1", "1of6", "1s3v", "1uou"):
        target = resolve_target(code)
        assert target.name == code and target.reference_ligand() is not None
    with pytest.raises(InputError, match="neither a bundle directory nor a shipped target"):
        resolve_target("9xyz")


def test_settings_are_strict() -> None:
    with pytest.raises(ValueError):
        DockingSettings(exhaustivenes=8)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        DockingSettings(time_limit=0)
    assert DockingSettings().settings_hash() != DockingSettings(seed=1).settings_hash()
