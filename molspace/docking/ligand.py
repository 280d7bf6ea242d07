"""SMILES → a 3D ligand PDBQT for Vina: parse, hydrogens, ETKDG conformer, Meeko.

Protonation is taken as given: the SMILES is docked in the charge state it is
written in (hydrogens are added to fill valences, nothing is (de)protonated for
a pH). Standardize or protonate a library before docking if that matters (the
screen's standardizer neutralizes; a tool such as dimorphite-dl enumerates
states). Salts and mixtures are rejected rather than silently stripped.

Every failure is a reason string, never an exception:
``parse_error``/``sanitize_error``/... (from :func:`molspace.chem.parse_smiles`),
``too_large``, ``too_flexible``, ``fragments``, ``embedding``, ``preparation``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers, rdMolDescriptors

from molspace.chem import parse_smiles
from molspace.chem.rdlog import capture_rdkit_log

__all__ = ["LigandResult", "prepare_ligand"]


@dataclass(frozen=True)
class LigandResult:
    """A prepared ligand (``pdbqt`` set) or the reason it could not be prepared."""

    pdbqt: str | None
    reason: str | None
    n_heavy: int = 0


def _fail(reason: str, n_heavy: int = 0) -> LigandResult:
    return LigandResult(None, reason, n_heavy)


def embed(mol: Chem.Mol, seed: int, timeout: float) -> Chem.Mol | None:
    """One ETKDGv3 conformer with hydrogens, MMFF-relaxed where MMFF has parameters."""
    molh = Chem.AddHs(mol)
    params: Any = rdDistGeom.ETKDGv3()  # RDKit's stubs type its fields wrongly
    params.randomSeed = seed
    params.timeout = max(1, int(timeout))
    if rdDistGeom.EmbedMolecule(molh, params) != 0:
        params.useRandomCoords = True  # the fallback RDKit recommends for hard cases
        if rdDistGeom.EmbedMolecule(molh, params) != 0:
            return None
    with contextlib.suppress(Exception):  # keep the ETKDG geometry when MMFF cannot type it
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(molh):
            rdForceFieldHelpers.MMFFOptimizeMolecule(molh, maxIters=500)
    return molh


def meeko_pdbqt(molh: Chem.Mol) -> tuple[str | None, str]:
    """Meeko's PDBQT of a 3D molecule with hydrogens, or ``None`` and Meeko's complaint."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            setups = MoleculePreparation().prepare(molh)
            if len(setups) != 1:
                return None, f"Meeko made {len(setups)} setups"
            text, ok, error = PDBQTWriterLegacy.write_string(setups[0])
    except Exception as exc:  # Meeko raises plain exceptions (unsupported atom types, ...)
        return None, (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    if not ok:
        return None, (str(error).strip().splitlines() or ["writer failed"])[0][:200]
    return text, ""


def prepare_ligand(
    smiles: str,
    *,
    seed: int = 0,
    max_heavy_atoms: int = 70,
    max_rotatable_bonds: int = 20,
    embed_timeout: float = 60.0,
) -> LigandResult:
    """Prepare one molecule for Vina; on failure the result carries the reason."""
    parsed = parse_smiles(smiles)
    if parsed.mol is None:
        return _fail(parsed.reason or "parse_error")
    mol = parsed.mol
    n_heavy = mol.GetNumHeavyAtoms()
    if len(Chem.GetMolFrags(mol)) > 1:
        return _fail("fragments: a salt or mixture (standardize the library first)", n_heavy)
    if n_heavy > max_heavy_atoms:
        return _fail(f"too_large: {n_heavy} heavy atoms > {max_heavy_atoms}", n_heavy)
    rotatable = rdMolDescriptors.CalcNumRotatableBonds(mol)
    if rotatable > max_rotatable_bonds:
        return _fail(f"too_flexible: {rotatable} rotatable bonds > {max_rotatable_bonds}", n_heavy)
    with capture_rdkit_log():
        molh = embed(mol, seed, embed_timeout)
    if molh is None:
        return _fail("embedding: ETKDG found no 3D conformer", n_heavy)
    text, complaint = meeko_pdbqt(molh)
    if text is None:
        return _fail(f"preparation: {complaint}", n_heavy)
    return LigandResult(text, None, n_heavy)
