"""Score modifiers: map a raw descriptor or similarity onto a desirability in [0, 1].

These are the transforms of GuacaMol (Brown et al., J. Chem. Inf. Model. 2019, 59, 1096;
``guacamol/score_modifier.py``), reproduced by TDC (``tdc/chem_utils/oracle/oracle.py``)
and therefore by the PMO benchmark. They are re-implemented here from the published
definitions so the PMO numbers can be reproduced without either package. Each modifier
is a small frozen dataclass that works on floats and on numpy arrays alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ClippedScoreModifier",
    "GaussianModifier",
    "MaxGaussianModifier",
    "MinGaussianModifier",
    "ScoreModifier",
    "ThresholdedLinearModifier",
]


class ScoreModifier:
    """A callable ``x -> modified x``; the base class only fixes the interface."""

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class GaussianModifier(ScoreModifier):
    """Bell curve ``exp(-0.5 ((x - mu) / sigma)^2)`` (GuacaMol ``GaussianModifier``)."""

    mu: float
    sigma: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return np.exp(-0.5 * np.power((np.asarray(x, dtype=float) - self.mu) / self.sigma, 2.0))


@dataclass(frozen=True)
class MinGaussianModifier(ScoreModifier):
    """Half Gaussian, 1 for ``x <= mu`` and decaying above (GuacaMol ``MinGaussianModifier``).

    Used for "at most" targets such as osimertinib's logP <= 1.
    """

    mu: float
    sigma: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        clipped = np.maximum(np.asarray(x, dtype=float), self.mu)
        return GaussianModifier(self.mu, self.sigma)(clipped)


@dataclass(frozen=True)
class MaxGaussianModifier(ScoreModifier):
    """Half Gaussian, 1 for ``x >= mu`` and decaying below (GuacaMol ``MaxGaussianModifier``).

    Used for "at least" targets such as osimertinib's TPSA >= 100.
    """

    mu: float
    sigma: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        clipped = np.minimum(np.asarray(x, dtype=float), self.mu)
        return GaussianModifier(self.mu, self.sigma)(clipped)


@dataclass(frozen=True)
class ClippedScoreModifier(ScoreModifier):
    """Linear ramp from ``(lower_x, low_score)`` to ``(upper_x, high_score)``, clipped outside.

    GuacaMol ``ClippedScoreModifier``: a similarity of ``upper_x`` or more is already a
    perfect score, which is why the similarity tasks top out at 0.75 Tanimoto.
    """

    upper_x: float
    lower_x: float = 0.0
    high_score: float = 1.0
    low_score: float = 0.0

    def __post_init__(self) -> None:
        if not self.low_score < self.high_score:
            raise ValueError("low_score must be below high_score")
        if self.upper_x == self.lower_x:
            raise ValueError("upper_x and lower_x must differ")

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        slope = (self.high_score - self.low_score) / (self.upper_x - self.lower_x)
        intercept = self.high_score - slope * self.upper_x
        y = slope * np.asarray(x, dtype=float) + intercept
        return np.clip(y, self.low_score, self.high_score)


@dataclass(frozen=True)
class ThresholdedLinearModifier(ScoreModifier):
    """``min(x, threshold) / threshold`` (GuacaMol ``ThresholdedLinearModifier``)."""

    threshold: float

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise ValueError("threshold must be positive")

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return np.minimum(np.asarray(x, dtype=float), self.threshold) / self.threshold
