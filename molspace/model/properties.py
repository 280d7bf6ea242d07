"""Molecular properties the optional property head of the VAE learns to predict from z."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["PROPERTY_FUNCTIONS", "property_values"]


def _sa(mol: Any) -> float:
    try:
        from molspace.chem import sa_score
    except ImportError:
        import os
        import sys

        from rdkit.Chem import RDConfig

        sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
        import sascorer

        return float(sascorer.calculateScore(mol))
    return float(sa_score(mol))


def _qed(mol: Any) -> float:
    from rdkit.Chem import QED

    return float(QED.qed(mol))


def _clogp(mol: Any) -> float:
    from rdkit.Chem import Crippen

    return float(Crippen.MolLogP(mol))


def _mw(mol: Any) -> float:
    from rdkit.Chem import Descriptors

    return float(Descriptors.MolWt(mol))


def _tpsa(mol: Any) -> float:
    from rdkit.Chem import rdMolDescriptors

    return float(rdMolDescriptors.CalcTPSA(mol))


PROPERTY_FUNCTIONS = {"qed": _qed, "sa": _sa, "clogp": _clogp, "mw": _mw, "tpsa": _tpsa}


def property_values(mol: Any, names: Sequence[str]) -> np.ndarray:
    """Values of ``names`` for one RDKit molecule (NaN where a descriptor fails)."""
    out = np.full(len(names), np.nan, dtype=np.float32)
    for i, name in enumerate(names):
        try:
            out[i] = PROPERTY_FUNCTIONS[name](mol)
        except Exception:  # a descriptor failing on one molecule must not stop training
            out[i] = np.nan
    return out
