"""Where a seed molecule starts the search: the latent point that decodes closest to it.

A seed's posterior mean is the encoder's best guess of where the molecule lives, but the
greedy decoding of that mean is often another molecule, and for molecules outside the
training distribution (haloperidol, MW 376, against MOSES's 250-350) a distant one: the
shipped models decode haloperidol's mean to molecules at Tanimoto 0.1 to 0.63 from it.
A lead optimization that starts there searches the wrong neighbourhood. The encoder's
posterior is wider than its mean, and some of its draws decode to the seed itself or
close to it; ``anchor_seeds`` decodes a few seeded draws at three widths and keeps the
one whose molecule is most similar to the seed (an exact decoding wins, then the higher
Tanimoto, then the draw nearer the mean). The mean stays when no draw beats it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molspace.analysis.common import canonicalize, fingerprints, similarity_to

__all__ = ["ANCHOR_WIDTHS", "Anchor", "anchor_seeds"]

#: posterior standard deviations the draws are scaled by, in turn
ANCHOR_WIDTHS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Anchor:
    """A seed's starting point and what it decodes to."""

    seed: str
    z: np.ndarray
    decoded: str  # canonical SMILES of the greedy decoding of z ("" when invalid)
    similarity: float  # Morgan r2 2048-bit Tanimoto of ``decoded`` to the seed
    mean_decoded: str  # the same for the posterior mean, for the log
    mean_similarity: float

    @property
    def moved(self) -> bool:
        return self.decoded != self.mean_decoded

    def describe(self) -> str:
        mean = f"its encoding decodes to {self.mean_decoded or 'nothing valid'} "
        mean += f"(Tanimoto {self.mean_similarity:.2f})"
        if not self.moved:
            return f"seed {self.seed}: {mean}"
        return (
            f"seed {self.seed}: {mean}; starting from a posterior draw that decodes to "
            f"{self.decoded} (Tanimoto {self.similarity:.2f})"
        )


def _similarities(seed: str, decoded: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tanimoto of each decoding to the seed (0 where invalid), and whether it is the seed."""
    target, _ = canonicalize(seed)  # None for an unparsable seed: nothing is exact
    sims = similarity_to(fingerprints([seed])[0], fingerprints(decoded))
    exact = np.array([s == target for s in decoded], dtype=bool)
    return sims, exact


def anchor_seeds(latent: Any, seeds: Sequence[str], n_draws: int, seed: int) -> list[Anchor]:
    """One anchor per seed: its posterior mean, or the best of ``n_draws`` posterior draws
    (reproducible from ``seed``). ``n_draws = 0`` keeps every mean."""
    if not seeds:
        return []
    means, sds = latent.encode_posterior(list(seeds))
    mean_decoded = latent.decode(means)
    rng = np.random.default_rng([seed, 0xA2C40])
    anchors = []
    for i, smiles in enumerate(seeds):
        draws = np.zeros((0, means.shape[1]), dtype=np.float32)
        if n_draws > 0:
            widths = np.resize(np.asarray(ANCHOR_WIDTHS), n_draws)[:, None]
            noise = rng.standard_normal((n_draws, means.shape[1]))
            draws = (means[i] + widths * sds[i] * noise).astype(np.float32)
        candidates = np.vstack([means[i : i + 1], draws])
        decoded = [mean_decoded[i]]
        sims, exact = _similarities(smiles, decoded)
        if len(draws) and not exact[0]:  # an exact mean needs no draws
            drawn = latent.decode(draws)
            draw_sims, draw_exact = _similarities(smiles, drawn)
            decoded += drawn
            sims, exact = np.concatenate([sims, draw_sims]), np.concatenate([exact, draw_exact])
        distance = np.linalg.norm((candidates[: len(decoded)] - means[i]) / sds[i], axis=1)
        # exact first, then similarity, then nearness to the mean (the mean itself wins ties)
        best = int(np.lexsort((distance, -sims, ~exact))[0])
        anchors.append(
            Anchor(
                seed=smiles,
                z=candidates[best].astype(np.float32),
                decoded=decoded[best],
                similarity=float(sims[best]),
                mean_decoded=decoded[0],
                mean_similarity=float(sims[0]),
            )
        )
    return anchors
