"""Success-based step size for the local moves: a TuRBO-style trust region, replayed.

TuRBO (Eriksson et al. 2019) and LOL-BO (Maus et al. 2022, in a VAE's latent space)
keep the search inside a region whose side doubles after ``success_tolerance``
successful batches in a row and halves after ``failure_tolerance`` failed ones, and
restart it once it has collapsed. Here the region is the local moves' step size
(``local_sigma`` times a factor) and a batch of children succeeds when one of them is a
new molecule scoring above the ``k``-th best known when the batch was proposed, i.e. it
enters the top-k that PMO's AUC averages.

The factor is not kept in memory: every batch of children records its round and its bar
in the trials' user attributes, and the factor is the replay of those outcomes in order
(``TrustRegion.factor``). A resumed run, or several workers sharing one study, therefore
agree on it without any state of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TrustRegion"]


@dataclass(frozen=True)
class TrustRegion:
    """TuRBO's counters on a step multiplier that starts at 1."""

    success_tolerance: int = 3
    failure_tolerance: int = 2
    min_factor: float = 0.125
    max_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.success_tolerance < 1 or self.failure_tolerance < 1:
            raise ValueError("tolerances must be >= 1")
        if not 0 < self.min_factor <= 1 <= self.max_factor:
            raise ValueError("need 0 < min_factor <= 1 <= max_factor")

    def factor(self, outcomes: Sequence[bool]) -> float:
        """The step multiplier after the batches ``outcomes`` (True: a success), oldest
        first. Doubles (up to ``max_factor``) after ``success_tolerance`` successes in a
        row, halves after ``failure_tolerance`` failures in a row, and restarts at 1 when
        it would fall below ``min_factor``."""
        factor, wins, losses = 1.0, 0, 0
        for ok in outcomes:
            wins, losses = (wins + 1, 0) if ok else (0, losses + 1)
            if wins >= self.success_tolerance:
                factor, wins = min(2.0 * factor, self.max_factor), 0
            elif losses >= self.failure_tolerance:
                factor, losses = factor / 2.0, 0
                if factor < self.min_factor:
                    factor = 1.0  # collapsed: restart the region
        return factor
