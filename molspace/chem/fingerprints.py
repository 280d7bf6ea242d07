"""Fingerprints, Tanimoto similarity and SMARTS substructure search.

Fingerprints come from ``rdFingerprintGenerator``; a generator is built once per
(kind, radius, size) and process and reused (generators are read-only while
fingerprinting). Kinds: ``morgan`` (ECFP-like, ``radius``), ``fcfp`` (Morgan with
pharmacophoric feature invariants), ``maccs`` (the 167 MACCS keys; ``n_bits`` is
ignored), ``atompair``, ``torsion`` (topological torsions), ``rdkit`` (Daylight-like
paths up to 7 bonds).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator as rfg
from rdkit.Chem import rdMolDescriptors
from rdkit.DataStructs import ExplicitBitVect

from molspace.chem.rdlog import capture_rdkit_log, error_log_enabled
from molspace.errors import ConfigError

__all__ = [
    "FINGERPRINT_KINDS",
    "MACCS_BITS",
    "bulk_tanimoto",
    "compile_smarts",
    "fingerprint",
    "fingerprint_numpy",
    "has_substructure",
    "tanimoto",
]

FINGERPRINT_KINDS = ("morgan", "fcfp", "maccs", "atompair", "torsion", "rdkit")
MACCS_BITS = 167


@functools.lru_cache(maxsize=64)
def _generator(kind: str, radius: int, n_bits: int) -> Any:
    if kind == "morgan":
        return rfg.GetMorganGenerator(radius=radius, fpSize=n_bits)
    if kind == "fcfp":
        invariants = rfg.GetMorganFeatureAtomInvGen()
        return rfg.GetMorganGenerator(
            radius=radius, fpSize=n_bits, atomInvariantsGenerator=invariants
        )
    if kind == "atompair":
        return rfg.GetAtomPairGenerator(fpSize=n_bits)
    if kind == "torsion":
        return rfg.GetTopologicalTorsionGenerator(fpSize=n_bits)
    if kind == "rdkit":
        return rfg.GetRDKitFPGenerator(fpSize=n_bits)
    raise AssertionError(kind)  # pragma: no cover - guarded by _check


def _check(kind: str, radius: int, n_bits: int) -> None:
    if kind not in FINGERPRINT_KINDS:
        raise ConfigError(
            f"unknown fingerprint kind {kind!r} (known: {', '.join(FINGERPRINT_KINDS)})"
        )
    if n_bits < 1:
        raise ConfigError(f"fingerprint size must be positive, got n_bits={n_bits}")
    if radius < 0:
        raise ConfigError(f"fingerprint radius must be >= 0, got radius={radius}")


def fingerprint(
    mol: Chem.Mol, kind: str = "morgan", radius: int = 2, n_bits: int = 2048
) -> ExplicitBitVect:
    """A bit-vector fingerprint of ``mol`` (see the module doc for the kinds)."""
    _check(kind, radius, n_bits)
    if kind == "maccs":
        return rdMolDescriptors.GetMACCSKeysFingerprint(mol)
    return _generator(kind, radius, n_bits).GetFingerprint(mol)


def fingerprint_numpy(
    mols: Sequence[Chem.Mol | None],
    kind: str = "morgan",
    radius: int = 2,
    n_bits: int = 2048,
) -> np.ndarray:
    """Fingerprints of many molecules as a boolean ``(n, n_bits)`` array (167 for maccs).

    A ``None`` entry (a rejected molecule) gives an all-False row, so rows stay aligned
    with the input table.
    """
    _check(kind, radius, n_bits)
    width = MACCS_BITS if kind == "maccs" else n_bits
    out = np.zeros((len(mols), width), dtype=bool)
    if kind == "maccs":
        buffer = np.zeros(width, dtype=np.uint8)
        for i, mol in enumerate(mols):
            if mol is not None:
                keys = rdMolDescriptors.GetMACCSKeysFingerprint(mol)
                DataStructs.ConvertToNumpyArray(keys, buffer)
                out[i] = buffer.astype(bool)
        return out
    generator = _generator(kind, radius, n_bits)
    for i, mol in enumerate(mols):
        if mol is not None:
            out[i] = generator.GetFingerprintAsNumPy(mol).astype(bool)
    return out


def tanimoto(fp_a: ExplicitBitVect, fp_b: ExplicitBitVect) -> float:
    """Tanimoto similarity of two bit vectors (1.0 for identical non-empty vectors)."""
    return float(DataStructs.TanimotoSimilarity(fp_a, fp_b))


def bulk_tanimoto(fp: ExplicitBitVect, fps: Sequence[ExplicitBitVect]) -> np.ndarray:
    """Tanimoto similarity of ``fp`` to each of ``fps`` as a float64 array."""
    if len(fps) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(DataStructs.BulkTanimotoSimilarity(fp, list(fps)), dtype=np.float64)


def compile_smarts(smarts: str) -> Chem.Mol:
    """Compile a SMARTS pattern from a config or the command line.

    Raises:
        ConfigError: naming the pattern and RDKit's message when it does not parse.
    """
    if not isinstance(smarts, str) or not smarts.strip():
        raise ConfigError(f"invalid SMARTS {smarts!r}: empty pattern")
    # error_log_enabled: the message is the point here, even if RDKit was silenced elsewhere
    with error_log_enabled(), capture_rdkit_log() as log:
        try:
            pattern = Chem.MolFromSmarts(smarts.strip())
        except Exception as exc:
            pattern = None
            log.messages.append(str(exc))
    if pattern is None:
        message = log.first("SMARTS Parse Error") or log.first() or "does not parse"
        raise ConfigError(f"invalid SMARTS {smarts!r}: {message}")
    return pattern


def has_substructure(mol: Chem.Mol, pattern: Chem.Mol | str) -> bool:
    """True when ``mol`` contains ``pattern`` (a compiled pattern or a SMARTS string)."""
    if isinstance(pattern, str):
        pattern = compile_smarts(pattern)
    return bool(mol.HasSubstructMatch(pattern))
