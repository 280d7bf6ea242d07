"""The fingerprints GuacaMol's scoring functions compare molecules with.

GuacaMol (``guacamol/utils/fingerprints.py``) and TDC (``smiles_2_fingerprint_*`` in
``tdc/chem_utils/oracle/oracle.py``) use RDKit's *unhashed count* fingerprints, not the
2048-bit vectors most tools default to, so a Tanimoto of 0.6 here is not comparable with
a bit-vector Tanimoto. The kinds:

- ``ECFP4``: Morgan radius 2 with counts (``GetMorganFingerprint(mol, 2)``)
- ``ECFP6``: Morgan radius 3 with counts
- ``FCFP4``: Morgan radius 2, feature invariants, counts (``useFeatures=True``)
- ``AP``: atom pairs up to 10 bonds apart, counts (``GetAtomPairFingerprint(mol, maxLength=10)``)
- ``PHCO``: Gobbi 2D pharmacophore bits (``Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)``)

They are built with RDKit's fingerprint generators (the legacy calls are deprecated);
``tests/unit/test_oracles.py`` checks the generators reproduce the legacy values.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

__all__ = ["FP_KINDS", "guacamol_fingerprint"]

FP_KINDS = ("ECFP4", "ECFP6", "FCFP4", "AP", "PHCO")


@cache
def _generator(kind: str) -> Any:
    if kind == "ECFP4":
        return rdFingerprintGenerator.GetMorganGenerator(radius=2)
    if kind == "ECFP6":
        return rdFingerprintGenerator.GetMorganGenerator(radius=3)
    if kind == "FCFP4":
        return rdFingerprintGenerator.GetMorganGenerator(
            radius=2, atomInvariantsGenerator=rdFingerprintGenerator.GetMorganFeatureAtomInvGen()
        )
    if kind == "AP":
        return rdFingerprintGenerator.GetAtomPairGenerator(maxDistance=10)
    raise ValueError(f"unknown fingerprint kind {kind!r}; expected one of {FP_KINDS}")


@lru_cache(maxsize=1)
def _gobbi_factory() -> Any:
    from rdkit.Chem.Pharm2D import Gobbi_Pharm2D

    return Gobbi_Pharm2D.factory


def guacamol_fingerprint(mol: Chem.Mol, kind: str) -> Any:
    """The fingerprint of ``kind`` for ``mol`` (an RDKit sparse count vector or bit vector)."""
    if kind == "PHCO":
        from rdkit.Chem.Pharm2D import Generate

        return Generate.Gen2DFingerprint(mol, _gobbi_factory())
    return _generator(kind).GetSparseCountFingerprint(mol)
