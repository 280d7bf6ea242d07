"""Receptor PDB → rigid receptor PDBQT with Meeko's residue templates (no network).

What happens to the structure, in order, each step recorded in the bundle's
manifest so nothing changes silently:

* only the first alternate location of each atom is kept (``default_altloc A``);
* waters and hetero groups Meeko has no template for (ligands, cofactors such as
  NADPH) are removed: Meeko would otherwise try to download their chemistry
  from the PDB, and a docking run must never reach the network;
* residues farther than ``crop`` Å from the box are dropped: Vina ignores atoms
  beyond its 8 Å cutoff, so the scores are unchanged and large complexes prepare
  in seconds instead of minutes;
* Meeko adds hydrogens from its templates; a residue it cannot build or match
  (broken geometry, missing atoms) is deleted and named in the manifest.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field

import numpy as np

from molspace.errors import InputError

__all__ = ["PreparedReceptor", "prepare_receptor"]

WATERS = {"HOH", "WAT", "DOD", "H2O"}
CROP_MARGIN = 12.0  # Å around the box: beyond Vina's 8 Å cutoff
_UNBUILDABLE = re.compile(r"corresponding to key (\S+)")
_UNMATCHED = re.compile(r"No template matched for residue_key='([^']+)'")


@dataclass
class PreparedReceptor:
    """Receptor PDBQT text and what preparation removed."""

    pdbqt: str
    removed_groups: list[str] = field(default_factory=list)  # "NDP A:193"
    deleted_residues: list[str] = field(default_factory=list)  # "A:104"
    cropped_residues: int = 0


def _residue_key(line: str) -> str:
    return f"{line[21].strip()}:{line[22:27].strip()}"


def _distance_to_box(xyz: np.ndarray, center: np.ndarray, size: np.ndarray) -> np.ndarray:
    outside = np.maximum(np.abs(xyz - center) - size / 2.0, 0.0)
    return np.sqrt((outside**2).sum(axis=1))


def filter_pdb(
    text: str,
    known: set[str],
    center: np.ndarray,
    size: np.ndarray,
    margin: float = CROP_MARGIN,
) -> tuple[str, list[str], int]:
    """Keep protein residues near the box; return the text, removed groups, cropped count."""
    atoms = [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]
    if not atoms:
        raise InputError("receptor: no ATOM/HETATM records")
    removed: dict[str, None] = {}
    residues: dict[tuple[str, str], list[str]] = {}
    for line in atoms:
        resname = line[17:20].strip()
        if line.startswith("HETATM") and (resname in WATERS or resname not in known):
            if resname not in WATERS:
                removed[f"{resname} {_residue_key(line)}"] = None
            continue
        if resname in WATERS:
            continue
        residues.setdefault((resname, _residue_key(line)), []).append(line)
    kept: list[str] = []
    cropped = 0
    for lines in residues.values():
        xyz = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])] for ln in lines])
        if _distance_to_box(xyz, center, size).min() <= margin:
            kept.extend(lines)
        else:
            cropped += 1
    if not kept:
        raise InputError("receptor: no protein atom within reach of the box")
    return "\n".join([*kept, "END"]) + "\n", list(removed), cropped


def prepare_receptor(
    pdb_text: str, center: np.ndarray, size: np.ndarray, *, max_deletions: int = 50
) -> PreparedReceptor:
    """Meeko receptor preparation of ``pdb_text`` around the box (see the module docstring)."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy, Polymer, ResidueChemTemplates

    templates = ResidueChemTemplates.create_from_defaults()
    known = set(templates.residue_templates)
    text, removed, cropped = filter_pdb(pdb_text, known, center, size)
    deleted: list[str] = []
    log = io.StringIO()
    while True:
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                polymer = Polymer.from_pdb_string(
                    text,
                    templates,
                    MoleculePreparation(),
                    None,
                    deleted or None,
                    False,
                    True,  # delete residues no template matches (listed below)
                    default_altloc="A",
                )
            break
        except RuntimeError as exc:
            match = _UNBUILDABLE.search(str(exc))
            if match is None or len(deleted) >= max_deletions or match.group(1) in deleted:
                raise InputError(f"receptor: Meeko cannot prepare it: {exc}") from exc
            deleted.append(match.group(1))
    unmatched = sorted(set(_UNMATCHED.findall(log.getvalue())))
    rigid, _flex = PDBQTWriterLegacy.write_from_polymer(polymer)
    if not rigid.strip():
        raise InputError("receptor: Meeko wrote an empty PDBQT")
    return PreparedReceptor(rigid, removed, deleted + unmatched, cropped)
