"""Desirability transforms: a raw property value -> a preference in [0, 1].

Each transform is a validated config model (``kind`` picks it) with an
``apply(values)`` that works on whole numpy arrays, so a partition of
thousands of molecules is transformed in one vectorized call. NaN (a value that
could not be computed) maps to 0: an unknown value is never desirable.

Kinds:

* ``identity`` — the raw value clipped to [0, 1] (QED, similarity, a 0/1 flag).
* ``sigmoid`` / ``reverse_sigmoid`` — a logistic rise (fall) that is 0.01 (0.99)
  at ``low`` and 0.99 (0.01) at ``high``; ``k`` > 1 makes it steeper.
* ``double_sigmoid`` — a plateau between ``low`` and ``high`` with soft edges:
  0.5 at ``low`` and ``high``, rising/falling over ``width`` around each edge.
* ``step`` — 1 when the value is >= ``threshold`` (``reverse``: <= threshold).
* ``range`` — 1 inside [``low``, ``high``], falling linearly to 0 over
  ``tolerance`` outside (0 tolerance: a hard window).
* ``linear`` — 0 at ``low``, 1 at ``high``, clamped (``reverse``: 1 at low).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from molspace.config import StrictModel

__all__ = [
    "DoubleSigmoid",
    "Identity",
    "Linear",
    "Range",
    "Sigmoid",
    "Step",
    "Transform",
]

# logistic slope that takes the curve from 0.01 to 0.99 over one unit
_SPAN = 2.0 * math.log(99.0)


def _finite(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=np.float64)
    return x, np.isnan(x)


def _logistic(x: np.ndarray, centre: float, slope: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-slope * (x - centre)))


class _Transform(StrictModel):
    def apply(self, values: np.ndarray) -> np.ndarray:
        x, missing = _finite(values)
        out = np.clip(self._apply(np.where(missing, 0.0, x)), 0.0, 1.0)
        out[missing] = 0.0
        return out

    def _apply(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Identity(_Transform):
    """The value itself, clipped to [0, 1]."""

    kind: Literal["identity"] = "identity"

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return x


class _LowHigh(_Transform):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> _LowHigh:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        return self


class Sigmoid(_LowHigh):
    """Logistic curve: 0.01 at ``low``, 0.99 at ``high`` (reversed: 0.99 at ``low``)."""

    kind: Literal["sigmoid", "reverse_sigmoid"] = "sigmoid"
    k: float = Field(1.0, gt=0, description="steepness multiplier")

    def _apply(self, x: np.ndarray) -> np.ndarray:
        slope = self.k * _SPAN / (self.high - self.low)
        y = _logistic(x, 0.5 * (self.low + self.high), slope)
        return 1.0 - y if self.kind == "reverse_sigmoid" else y


class DoubleSigmoid(_LowHigh):
    """Plateau on [low, high]: 0.5 at each edge, ~0.01 ``width``/2 outside it."""

    kind: Literal["double_sigmoid"] = "double_sigmoid"
    width: float = Field(gt=0, description="transition width around each edge")

    def _apply(self, x: np.ndarray) -> np.ndarray:
        slope = _SPAN / self.width
        return _logistic(x, self.low, slope) * (1.0 - _logistic(x, self.high, slope))


class Step(_Transform):
    """1 at or above ``threshold`` (``reverse``: at or below), else 0."""

    kind: Literal["step"] = "step"
    threshold: float
    reverse: bool = False

    def _apply(self, x: np.ndarray) -> np.ndarray:
        hit = x <= self.threshold if self.reverse else x >= self.threshold
        return hit.astype(np.float64)


class Range(_Transform):
    """1 inside [low, high]; linear fall to 0 over ``tolerance`` outside."""

    kind: Literal["range"] = "range"
    low: float
    high: float
    tolerance: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def _apply(self, x: np.ndarray) -> np.ndarray:
        distance = np.maximum(self.low - x, 0.0) + np.maximum(x - self.high, 0.0)
        if self.tolerance == 0:
            return (distance == 0).astype(np.float64)
        return 1.0 - distance / self.tolerance


class Linear(_LowHigh):
    """0 at ``low``, 1 at ``high``, clamped (``reverse``: 1 at ``low``, 0 at ``high``)."""

    kind: Literal["linear"] = "linear"
    reverse: bool = False

    def _apply(self, x: np.ndarray) -> np.ndarray:
        y = (x - self.low) / (self.high - self.low)
        return 1.0 - y if self.reverse else y


#: a transform as written in TOML: ``transform = { kind = "sigmoid", low = 1, high = 3 }``
Transform = Annotated[
    Identity | Sigmoid | DoubleSigmoid | Step | Range | Linear,
    Field(discriminator="kind"),
]
