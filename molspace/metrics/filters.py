"""MOSES's ``Filters`` rule: what a medicinal chemist would not throw out at first sight.

A molecule passes when it has no ring of 8 or more atoms, no charged atom, only
C, N, S, O, F, Cl, Br, H, matches none of MOSES's 22 MCF and 480 PAINS SMARTS
(``molspace/data/moses_filters``, matched with explicit hydrogens because many
PAINS patterns name ``[#1]``) and survives a non-isomeric SMILES round trip.

Matching 502 patterns against every molecule is the slowest step of a MOSES
evaluation, so each molecule's RDKit pattern fingerprint first rules out the
patterns whose own fingerprint bits it lacks (a necessary condition for a
match); only the few candidates left are matched. The verdict is identical
(``screen=False`` matches every pattern, and the tests compare both).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs

__all__ = ["ALLOWED_ELEMENTS", "filter_patterns", "first_filter_failure", "passes_filters"]

ALLOWED_ELEMENTS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
_DATA = Path(__file__).resolve().parents[1] / "data" / "moses_filters"
_SCREEN_BITS = 2048


@lru_cache(maxsize=1)
def filter_patterns() -> tuple[tuple[str, Chem.Mol], ...]:
    """(name, compiled SMARTS) for the MCF then the PAINS patterns, compiled once per process."""
    rows: list[tuple[str, str]] = []
    with open(_DATA / "mcf.csv", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)  # header: names,smarts
        rows.extend((name, smarts) for name, smarts in reader)
    with open(_DATA / "wehi_pains.csv", newline="") as handle:  # no header: smarts,names
        rows.extend((name.strip(), smarts.strip()) for smarts, name in csv.reader(handle))
    patterns = []
    for name, smarts in rows:
        pattern = Chem.MolFromSmarts(smarts)
        if pattern is None:  # the shipped files all compile; a broken copy must not pass silently
            raise RuntimeError(f"{_DATA}: filter {name} has an invalid SMARTS {smarts!r}")
        patterns.append((name, pattern))
    return tuple(patterns)


def _pattern_bits(mol: Chem.Mol) -> np.ndarray:
    fp = Chem.PatternFingerprint(mol, fpSize=_SCREEN_BITS)
    bits = np.zeros(_SCREEN_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(fp, bits)
    return np.packbits(bits).view(np.uint64)


@lru_cache(maxsize=1)
def _screen_matrix() -> np.ndarray:
    return np.stack([_pattern_bits(pattern) for _, pattern in filter_patterns()])


def _candidates(with_h: Chem.Mol) -> np.ndarray:
    """Indices of the patterns whose fingerprint bits are all set in the molecule's."""
    queries = _screen_matrix()
    return np.flatnonzero(((queries & _pattern_bits(with_h)) == queries).all(axis=1))


def first_filter_failure(mol: Chem.Mol, *, screen: bool = True) -> str | None:
    """Why ``mol`` fails MOSES's filters ("ring_size", "charge", "element:X", "mcf:MCF4",
    "pains:<regId=...>", "roundtrip"), or None when it passes."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):  # sanitized: SSSR
        return "ring_size"
    for atom in mol.GetAtoms():
        if atom.GetFormalCharge() != 0:
            return "charge"
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in ALLOWED_ELEMENTS:
            return f"element:{atom.GetSymbol()}"
    with_h = Chem.AddHs(mol)
    patterns = filter_patterns()
    indices = _candidates(with_h) if screen else range(len(patterns))
    for i in indices:
        name, pattern = patterns[i]
        if with_h.HasSubstructMatch(pattern):
            family = "mcf" if name.startswith("MCF") else "pains"
            return f"{family}:{name}"
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    if not smiles or Chem.MolFromSmiles(smiles) is None:
        return "roundtrip"
    return None


def passes_filters(mol: Chem.Mol) -> bool:
    """True when ``mol`` passes every MOSES filter (see :func:`first_filter_failure`)."""
    return first_filter_failure(mol) is None
