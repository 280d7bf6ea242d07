"""From asked trials to canonical molecules: the decode stage of the search loop.

Pure functions over arrays and lists, so each can be tested without a study: the latent
vector of every trial (its exact vector when one was enqueued with it), then the
canonical SMILES, the RDKit molecule and the reason a molecule is not scored
(``invalid`` or a degenerate pattern) of every decoded string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.study import Z_ATTR

__all__ = ["DecodedRow", "new_molecules", "prepare_rows", "trial_latents"]


@dataclass
class DecodedRow:
    """One decoded trial: canonical SMILES, its molecule and why it is not scored."""

    smiles: str
    mol: Any
    reason: str | None


def trial_latents(trials: Sequence[Any], space: LatentSearchSpace) -> np.ndarray:
    """Latent vectors of ``trials``: the search-space point mapped to the latent space, or
    the exact vector a seed or local move was enqueued with."""
    names = space.param_names
    x = np.array([[t.params[n] for n in names] for t in trials])
    z = space.to_latent(x)
    for i, trial in enumerate(trials):
        exact = trial.user_attrs.get(Z_ATTR)
        if exact is not None and len(exact) == z.shape[1]:
            z[i] = exact
    return z


def prepare_rows(decoded: Sequence[str | None], degenerate: Any) -> list[DecodedRow]:
    """Canonicalize decoded SMILES; ``degenerate(mol)`` names why a molecule is not
    scored (None when it is). RDKit's warnings go to the log, not stderr."""
    from rdkit import Chem

    from molspace.chem.rdlog import capture_rdkit_log

    rows: list[DecodedRow] = []
    with capture_rdkit_log():
        for smiles in decoded:
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            canonical = Chem.MolToSmiles(mol) if mol is not None else (smiles or "")
            rows.append(DecodedRow(canonical, mol, degenerate(mol)))
    return rows


def new_molecules(trials: Sequence[Any], rows: Sequence[DecodedRow], known: Any) -> dict[str, int]:
    """Molecules of a batch not in ``known`` (the cache), each with the first trial that
    decoded it: the ones worth an oracle call."""
    wanted: dict[str, int] = {}
    for trial, row in zip(trials, rows, strict=True):
        if row.reason is None and row.smiles not in known and row.smiles not in wanted:
            wanted[row.smiles] = trial.number
    return wanted
