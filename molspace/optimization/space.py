"""Latent search spaces for Optuna: a prior box, a ball around seeds, a whitened PCA subspace.

Optuna sees ``m`` float parameters ``x_000 .. x_{m-1}`` in ``[-bound, bound]``; a space maps
them to latent vectors ``z = center + x @ basis`` (and back, to enqueue known molecules):

- ``box``: ``basis = I``, ``center = 0``: the prior box ``|z_i| <= bound`` (the prior is
  N(0, I), so ``bound`` is in prior standard deviations).
- ``ball``: a ball of ``radius`` around the mean latent of the seed molecules (lead
  optimisation); ``x`` is scaled back into the ball when the box corner pokes out.
- ``pca``: the top-``m`` principal axes of an encoded library, whitened (``x`` in standard
  deviations of the encoded data); a low-dimensional space where molecules actually live,
  which keeps TPE/CMA-ES/GP cheap and sample-efficient.

A space also carries the per-dimension spread of encoded molecules (``scale``): local
moves around good molecules happen in the full latent space, in those units
(``molspace.optimization.proposals``), because a molecule's own latent vector is almost never
inside a low-dimensional search subspace.

The space is stored as JSON in the study (``space`` user attribute), so a resumed study
keeps the exact same geometry even if the library file changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LatentSearchSpace", "ball_space", "box_space", "pca_space"]


@dataclass(frozen=True)
class LatentSearchSpace:
    """A linear map from ``m`` bounded Optuna parameters to ``d`` latent dimensions."""

    kind: str
    center: np.ndarray  # (d,)
    basis: np.ndarray  # (m, d)
    bound: float
    radius: float | None = None
    scale: np.ndarray | None = None  # (d,) spread of encoded molecules per latent dimension

    @property
    def dimension_scale(self) -> np.ndarray:
        """Per-dimension step unit for local moves in full latent space (1 = the prior's)."""
        return self.scale if self.scale is not None else np.ones(self.latent_dim)

    @property
    def latent_dim(self) -> int:
        return int(self.center.shape[0])

    @property
    def n_params(self) -> int:
        return int(self.basis.shape[0])

    @property
    def param_names(self) -> list[str]:
        return [f"x_{i:03d}" for i in range(self.n_params)]

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import FloatDistribution

        return {n: FloatDistribution(-self.bound, self.bound) for n in self.param_names}

    def to_latent(self, x: np.ndarray) -> np.ndarray:
        """Parameters ``(n, m)`` -> latent vectors ``(n, d)``."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if self.radius is not None:
            norms = np.linalg.norm(x @ self.basis, axis=1, keepdims=True)
            scale = np.minimum(1.0, self.radius / np.maximum(norms, 1e-12))
            x = x * scale
        return self.center + x @ self.basis

    def from_latent(self, z: np.ndarray) -> np.ndarray:
        """Latent vectors ``(n, d)`` -> the nearest parameters ``(n, m)`` inside the bounds."""
        z = np.atleast_2d(np.asarray(z, dtype=float))
        x = (z - self.center) @ np.linalg.pinv(self.basis)
        return np.clip(x, -self.bound, self.bound)

    def params_of(self, x: np.ndarray) -> list[dict[str, float]]:
        names = self.param_names
        return [{n: float(v) for n, v in zip(names, row, strict=True)} for row in np.atleast_2d(x)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "bound": self.bound,
                "radius": self.radius,
                "center": np.round(self.center, 8).tolist(),
                "basis": np.round(self.basis, 8).tolist(),
                "scale": None if self.scale is None else np.round(self.scale, 8).tolist(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LatentSearchSpace:
        data = json.loads(text)
        return cls(
            kind=data["kind"],
            center=np.asarray(data["center"], dtype=float),
            basis=np.asarray(data["basis"], dtype=float),
            bound=float(data["bound"]),
            radius=data["radius"],
            scale=None if data.get("scale") is None else np.asarray(data["scale"], dtype=float),
        )

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def box_space(latent_dim: int, bound: float = 3.0) -> LatentSearchSpace:
    """The prior box ``|z_i| <= bound``."""
    return LatentSearchSpace("box", np.zeros(latent_dim), np.eye(latent_dim), float(bound))


def ball_space(seed_latents: np.ndarray, radius: float = 1.0) -> LatentSearchSpace:
    """A ball of ``radius`` (prior standard deviations) around the mean seed latent."""
    z = np.atleast_2d(np.asarray(seed_latents, dtype=float))
    if z.shape[0] == 0:
        raise ValueError("a ball space needs at least one seed molecule")
    d = z.shape[1]
    return LatentSearchSpace("ball", z.mean(axis=0), np.eye(d), float(radius), float(radius))


def pca_space(latents: np.ndarray, n_components: int = 8, bound: float = 3.0) -> LatentSearchSpace:
    """Whitened top-``n_components`` PCA subspace of encoded molecules ``latents (n, d)``."""
    z = np.asarray(latents, dtype=float)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError("PCA needs at least two encoded molecules")
    m = min(n_components, z.shape[1], z.shape[0] - 1)
    mean = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    std = s[:m] / np.sqrt(z.shape[0] - 1)
    # fix the sign of each axis so the space is reproducible across BLAS builds
    signs = np.sign(vt[:m, np.argmax(np.abs(vt[:m]), axis=1)].diagonal())
    basis = (vt[:m] * signs[:, None]) * std[:, None]
    return LatentSearchSpace("pca", mean, basis, float(bound), scale=z.std(axis=0, ddof=1))
