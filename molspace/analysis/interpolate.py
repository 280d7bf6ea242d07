"""Paths through latent space between two molecules.

Spherical interpolation (slerp) is the default because under a Gaussian prior
most mass lies near a shell: the straight line between two codes cuts through
the low-norm interior where the decoder has seen few codes, while slerp keeps
the norm (and so the "typicality") of the endpoints along the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from molspace.analysis.common import (
    DEFAULT_PROPERTIES,
    fingerprints,
    properties_frame,
    query_molecule,
    similarity_to,
)
from molspace.errors import ConfigError

__all__ = ["INTERPOLATIONS", "interpolate", "lerp", "path_points", "slerp"]

INTERPOLATIONS = ("slerp", "linear")


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points (1-t) z0 + t z1 for each t; shape (len(t), d)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1.0 - t) * np.asarray(z0, dtype=np.float64) + t * np.asarray(z1, dtype=np.float64)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation on the great circle between the two directions.

    The norm is interpolated linearly, so unequal endpoint norms are handled and
    t=0 / t=1 give z0 / z1 exactly. Nearly (anti)parallel endpoints fall back to lerp.
    """
    z0 = np.asarray(z0, dtype=np.float64)
    z1 = np.asarray(z1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-12 or n1 < 1e-12:
        return lerp(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1
    omega = float(np.arccos(np.clip(np.dot(u0, u1), -1.0, 1.0)))
    if omega < 1e-6 or np.pi - omega < 1e-6:
        return lerp(z0, z1, t)
    sin = np.sin(omega)
    directions = (np.sin((1.0 - t) * omega)[:, None] * u0 + np.sin(t * omega)[:, None] * u1) / sin
    norms = (1.0 - t) * n0 + t * n1
    return directions * norms[:, None]


def path_points(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` points from z0 to z1 inclusive."""
    if method not in INTERPOLATIONS:
        raise ConfigError(
            f"unknown interpolation {method!r}; choose one of {', '.join(INTERPOLATIONS)}"
        )
    if steps < 2:
        raise ConfigError(f"steps must be >= 2, got {steps}")
    t = np.linspace(0.0, 1.0, steps)
    return slerp(z0, z1, t) if method == "slerp" else lerp(z0, z1, t)


def interpolate(
    space: Any,
    start: str,
    end: str,
    *,
    steps: int = 20,
    method: str = "slerp",
    properties: Sequence[str] = DEFAULT_PROPERTIES,
) -> pd.DataFrame:
    """The distinct molecules met walking from ``start`` to ``end`` in latent space.

    Rows, in path order: the start molecule itself (origin "start"), every distinct
    greedy decoding along the path that is neither endpoint (origin "path"), and
    the end molecule (origin "end"). Columns: origin, t (first path position the
    molecule appears at), t_last, n_points (how many path points decode to it),
    smiles, sim_start, sim_end, valid, then one column per property.
    Decoded points equal to an endpoint are counted on that endpoint's row (its
    n_points is 0 when the model never reproduces it along the path).
    """
    a = query_molecule(start, "start molecule")
    b = query_molecule(end, "end molecule")
    z = space.encode([a, b])
    t = np.linspace(0.0, 1.0, steps)
    points = path_points(z[0], z[1], steps, method)
    decoded = space.decode(points, temperature=0.0)

    order: list[str] = []
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    counts: dict[str, int] = {}
    for ti, smi in zip(t, decoded, strict=True):
        key = smi or ""
        if key not in first:
            order.append(key)
            first[key] = float(ti)
        last[key] = float(ti)
        counts[key] = counts.get(key, 0) + 1

    rows = [{"origin": "start", "t": 0.0, "t_last": 0.0, "n_points": counts.get(a, 0), "smiles": a}]
    for smi in order:
        if smi in (a, b):
            continue
        rows.append(
            {
                "origin": "path",
                "t": first[smi],
                "t_last": last[smi],
                "n_points": counts[smi],
                "smiles": smi,
            }
        )
    rows.append(
        {"origin": "end", "t": 1.0, "t_last": 1.0, "n_points": counts.get(b, 0), "smiles": b}
    )
    frame = pd.DataFrame(rows)
    fps = fingerprints(frame["smiles"].tolist())
    frame["valid"] = [fp is not None for fp in fps]
    frame["sim_start"] = similarity_to(fps[0], fps)
    frame["sim_end"] = similarity_to(fps[-1], fps)
    props = properties_frame(frame["smiles"].tolist(), properties)
    frame = pd.concat([frame, props], axis=1)
    frame.attrs.update(
        {"method": method, "steps": steps, "start": a, "end": b, "n_distinct_decoded": len(order)}
    )
    return frame
