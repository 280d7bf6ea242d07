"""Everything MOSES needs per molecule, computed in one parse.

Each metric of MOSES re-parses the generated SMILES; here a worker parses a
molecule once and returns all its features (canonical SMILES, packed Morgan
fingerprint, BRICS fragments, scaffold, filter verdict, properties) as a small
tuple, so a 30,000-molecule evaluation is one pass of a process pool.
Definitions follow molecularsets/moses ``metrics/utils.py``: features are taken
from the molecule re-parsed from its canonical SMILES.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

from molspace.chem.sascore import sa_score
from molspace.metrics.filters import passes_filters

__all__ = [
    "FP_BITS",
    "FeatureTable",
    "MolFeatures",
    "canonical_or_none",
    "featurize",
    "featurize_one",
    "parallel_map",
    "parse_moses",
]

FP_BITS = 1024  # MOSES: Morgan radius 2, 1024 bits
_MIN_SCAFFOLD_RINGS = 2  # MOSES ignores scaffolds with fewer than two rings
_morgan = None
T = TypeVar("T")
R = TypeVar("R")


def parse_moses(smiles: str) -> Chem.Mol | None:
    """MOSES's notion of a valid molecule: a non-empty SMILES that RDKit parses and sanitizes."""
    if not smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):
        return None
    return mol


def canonical_or_none(smiles: str) -> str | None:
    """RDKit canonical SMILES, or None for an invalid one."""
    mol = parse_moses(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def _fingerprint_packed(mol: Chem.Mol) -> bytes:
    global _morgan
    if _morgan is None:
        _morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)
    return np.packbits(_morgan.GetFingerprintAsNumPy(mol).astype(bool)).tobytes()


def _fragments(mol: Chem.Mol) -> tuple[str, ...]:
    return tuple(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))


def _scaffold(mol: Chem.Mol) -> str | None:
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or rdMolDescriptors.CalcNumRings(scaffold) < _MIN_SCAFFOLD_RINGS:
        return None
    return smiles


class MolFeatures(NamedTuple):
    """Features of one valid molecule (a tuple: cheap to send between processes)."""

    canonical: str
    fingerprint: bytes  # FP_BITS // 8 bytes, np.packbits order
    fragments: tuple[str, ...]
    scaffold: str | None
    passes_filters: bool
    logP: float
    SA: float
    QED: float
    weight: float
    heavy_atoms: float


def featurize_one(smiles: str) -> MolFeatures | None:
    """All features of one molecule, or None when MOSES would call it invalid."""
    mol = parse_moses(smiles)
    if mol is None:
        return None
    canonical = Chem.MolToSmiles(mol)
    mol = parse_moses(canonical)
    if mol is None:  # a canonical SMILES RDKit cannot read back: MOSES drops it too
        return None
    return MolFeatures(
        canonical=canonical,
        fingerprint=_fingerprint_packed(mol),
        fragments=_fragments(mol),
        scaffold=_scaffold(mol),
        passes_filters=passes_filters(mol),
        logP=Crippen.MolLogP(mol),
        SA=sa_score(mol),
        QED=QED.qed(mol),
        weight=Descriptors.MolWt(mol),
        heavy_atoms=float(mol.GetNumHeavyAtoms()),
    )


def _init_worker() -> None:
    from molspace.chem import rdlog

    rdlog.install()


def parallel_map(
    func: Callable[[T], R], items: Sequence[T], n_jobs: int = 1, chunksize: int = 256
) -> list[R]:
    """``[func(x) for x in items]`` over ``n_jobs`` processes (in-process when 1 or few items).

    Uses the ``forkserver`` start method where available so workers never inherit a
    parent's threads (torch, Dask) half-locked.
    """
    _init_worker()
    if n_jobs <= 1 or len(items) < 2 * chunksize:
        return [func(x) for x in items]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with ctx.Pool(n_jobs, initializer=_init_worker) as pool:
        return pool.map(func, items, chunksize=chunksize)


@dataclass(frozen=True)
class FeatureTable:
    """Features of a list of SMILES: ``valid[i]`` says whether input ``i`` parsed."""

    n_input: int
    valid: np.ndarray  # (n_input,) bool
    records: list[MolFeatures]  # one per valid input, in input order

    @property
    def canonical(self) -> list[str]:
        return [r.canonical for r in self.records]

    def fingerprints(self) -> np.ndarray:
        """(n_valid, FP_BITS // 8) uint8 packed fingerprints."""
        if not self.records:
            return np.zeros((0, FP_BITS // 8), dtype=np.uint8)
        joined = b"".join(r.fingerprint for r in self.records)
        return np.frombuffer(joined, dtype=np.uint8).reshape(len(self.records), FP_BITS // 8)

    def fragment_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for record in self.records:
            counts.update(record.fragments)
        return counts

    def scaffold_counts(self) -> Counter[str]:
        return Counter(r.scaffold for r in self.records if r.scaffold is not None)

    def property(self, key: str) -> np.ndarray:
        return np.fromiter((getattr(r, key) for r in self.records), dtype=np.float64)

    def filter_pass(self) -> np.ndarray:
        return np.fromiter((r.passes_filters for r in self.records), dtype=bool)


def featurize(smiles: Iterable[str], n_jobs: int = 1) -> FeatureTable:
    """Featurize ``smiles`` (any iterable of strings) with ``n_jobs`` processes."""
    items = [s if isinstance(s, str) else "" for s in smiles]
    results = parallel_map(featurize_one, items, n_jobs=n_jobs)
    valid = np.fromiter((r is not None for r in results), dtype=bool, count=len(results))
    return FeatureTable(
        n_input=len(items), valid=valid, records=[r for r in results if r is not None]
    )
