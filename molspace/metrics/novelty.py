"""Training-set membership for MOSES's Novelty, as a sorted array of 64-bit hashes.

MOSES's novelty is the fraction of unique valid generated molecules whose
canonical SMILES is not a training SMILES. Its 1,584,663 training SMILES are
already canonical (we measured 276 that RDKit 2026.09 writes differently, all
ring-fusion or ``[H]N=`` notations), and MOSES compares against the raw
strings, so the MOSES set is hashed as written: reading and hashing take a few
seconds and 13 MB instead of a 200 MB Python set. A user's own training list
is canonicalized first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TrainSet", "load_moses_train", "smiles_hashes"]


def smiles_hashes(smiles: Iterable[str]) -> np.ndarray:
    """64-bit BLAKE2b hash of each string (collision odds ~1e-7 over 1.6M x 30k lookups)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
            for s in smiles
        ),
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class TrainSet:
    """A set of canonical training SMILES, held as sorted unique hashes."""

    name: str
    n: int  # molecules read (before de-duplication)
    hashes: np.ndarray  # sorted, unique uint64

    @classmethod
    def from_smiles(
        cls,
        smiles: Sequence[str],
        *,
        name: str = "train",
        canonicalize: bool = True,
        n_jobs: int = 1,
    ) -> TrainSet:
        """Build from SMILES; ``canonicalize`` drops invalid ones and canonicalizes the rest."""
        items = list(smiles)
        if canonicalize:
            from molspace.metrics.features import canonical_or_none, parallel_map

            items = [c for c in parallel_map(canonical_or_none, items, n_jobs=n_jobs) if c]
        return cls(name=name, n=len(smiles), hashes=np.unique(smiles_hashes(items)))

    def contains(self, canonical: Sequence[str]) -> np.ndarray:
        """Boolean mask: which of these canonical SMILES are in the set."""
        if len(canonical) == 0 or len(self.hashes) == 0:
            return np.zeros(len(canonical), dtype=bool)
        keys = smiles_hashes(canonical)
        pos = np.searchsorted(self.hashes, keys).clip(max=len(self.hashes) - 1)
        return self.hashes[pos] == keys


_MOSES_TRAIN: TrainSet | None = None


def load_moses_train() -> TrainSet:
    """The MOSES training set (1.58M SMILES, hashed as written), cached per process."""
    global _MOSES_TRAIN
    if _MOSES_TRAIN is None:
        from molspace.metrics.reference import load_moses_smiles

        smiles = load_moses_smiles("train")
        _MOSES_TRAIN = TrainSet.from_smiles(smiles, name="MOSES train", canonicalize=False)
    return _MOSES_TRAIN
