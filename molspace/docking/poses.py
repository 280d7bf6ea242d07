"""Vina's PDBQT poses → RDKit molecules and SD text (with hydrogens, bond orders intact).

Meeko writes the ligand's SMILES and atom order into the PDBQT it prepares and
Vina copies those remarks into every pose, so each pose maps back onto the
original molecule graph: the SD records carry real bond orders and charges.
"""

from __future__ import annotations

import contextlib
import io

from rdkit import Chem

__all__ = ["pose_molecules", "poses_to_sdf"]


def pose_molecules(poses_pdbqt: str) -> list[Chem.Mol]:
    """One molecule per pose (best first), each with one conformer."""
    from meeko import PDBQTMolecule, RDKitMolCreate

    noise = io.StringIO()
    with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
        pdbqt = PDBQTMolecule(poses_pdbqt, skip_typing=True)
        mols = RDKitMolCreate.from_pdbqt_mol(pdbqt)
    if not mols or mols[0] is None:
        raise ValueError("Meeko could not rebuild the docked molecule from its PDBQT")
    mol = mols[0]
    out = []
    for conf in mol.GetConformers():
        pose = Chem.Mol(mol)
        pose.RemoveAllConformers()
        pose.AddConformer(Chem.Conformer(conf), assignId=True)
        out.append(pose)
    return out


def poses_to_sdf(
    poses: list[Chem.Mol], ident: str, scores: list[float], smiles: str | None = None
) -> str:
    """SD text of the poses with ``id``, ``pose``, ``score`` (kcal/mol) and ``smiles`` tags."""
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    for rank, (pose, score) in enumerate(zip(poses, scores, strict=False), start=1):
        pose = Chem.Mol(pose)
        pose.SetProp("_Name", str(ident))
        pose.SetProp("id", str(ident))
        pose.SetIntProp("pose", rank)
        pose.SetProp("score", f"{score:.3f}")
        if smiles is not None:
            pose.SetProp("smiles", smiles)
        writer.write(pose)
    writer.close()
    return buffer.getvalue()
