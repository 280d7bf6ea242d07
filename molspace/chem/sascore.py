"""Synthetic accessibility score (Ertl & Schuffenhauer, J. Cheminf. 2009, 1:8).

We use RDKit's own implementation shipped in the wheel (``Contrib/SA_Score``) so
our numbers are the ones every benchmark paper reports. The module and its
fragment-contribution table (``fpscores.pkl.gz``, RDKit's data file) are loaded
once per process, under a lock so concurrent threads do not load it twice.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from types import ModuleType

from rdkit import Chem, RDConfig

__all__ = ["sa_score", "sascorer_module"]

_lock = threading.Lock()
_module: ModuleType | None = None


def sascorer_module() -> ModuleType:
    """RDKit's ``sascorer`` module, imported from its file path with its table loaded."""
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
            spec = importlib.util.spec_from_file_location("molspace_rdkit_sascorer", path)
            if spec is None or spec.loader is None or not os.path.exists(path):
                raise RuntimeError(f"RDKit's SA_Score contrib module not found at {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.readFragmentScores()
            _module = module
    return _module


def sa_score(mol: Chem.Mol) -> float:
    """SA score from 1 (easy to make) to 10 (very hard); NaN for an empty molecule."""
    score = sascorer_module().calculateScore(mol)
    return float("nan") if score is None else float(score)
