"""Small helpers shared by the latent-space analyses: encode with reasons, similarity, properties.

Kept here so interpolation, exploration, maps and anomaly scoring measure the
same thing the same way (Morgan radius 2, 2048 bits; canonical SMILES).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.errors import InputError, InvalidMoleculeError

__all__ = [
    "DEFAULT_PROPERTIES",
    "FP_KIND",
    "canonicalize",
    "encode_with_reasons",
    "fingerprints",
    "properties_frame",
    "query_molecule",
    "similarity_to",
    "write_json",
]

FP_KIND = {"kind": "morgan", "radius": 2, "n_bits": 2048}
DEFAULT_PROPERTIES = ("mw", "clogp", "tpsa", "qed", "sa")


def canonicalize(smiles: str) -> tuple[str | None, str | None]:
    """(canonical SMILES, None) or (None, reason) for any string; never raises."""
    from molspace.chem import canonical_smiles, parse_smiles

    result = parse_smiles(smiles or "")
    if not result.ok:
        return None, result.reason
    return canonical_smiles(result.mol), None


def query_molecule(smiles: str, what: str = "molecule") -> str:
    """Canonical SMILES of a molecule the user named; InvalidMoleculeError otherwise."""
    canonical, reason = canonicalize(smiles)
    if canonical is None:
        raise InvalidMoleculeError(f"{what} {smiles!r}: {reason}")
    return canonical


def fingerprints(smiles: Sequence[str | None]) -> list[Any]:
    """Morgan fingerprints (None where a SMILES is missing or does not parse)."""
    from molspace.chem import fingerprint, parse_smiles

    fps: list[Any] = []
    for smi in smiles:
        result = parse_smiles(smi) if smi else None
        ok = result is not None and result.ok
        fps.append(fingerprint(result.mol, **FP_KIND) if ok else None)  # type: ignore[arg-type, union-attr]
    return fps


def similarity_to(reference: Any, fps: Sequence[Any]) -> np.ndarray:
    """Tanimoto of each fingerprint to ``reference``; 0.0 where a fingerprint is missing."""
    from molspace.chem import bulk_tanimoto

    out = np.zeros(len(fps), dtype=np.float64)
    present = [i for i, fp in enumerate(fps) if fp is not None]
    if reference is None or not present:
        return out
    out[present] = np.asarray(bulk_tanimoto(reference, [fps[i] for i in present]), dtype=float)
    return out


def properties_frame(smiles: Sequence[str | None], names: Sequence[str]) -> pd.DataFrame:
    """RDKit properties per SMILES (NaN where it does not parse), one column per name."""
    from molspace.chem import compute_properties, parse_smiles

    rows = []
    for smi in smiles:
        result = parse_smiles(smi) if smi else None
        if result is not None and result.ok:
            rows.append(compute_properties(result.mol, list(names)))
        else:
            rows.append(dict.fromkeys(names, np.nan))
    return pd.DataFrame(rows, columns=list(names), dtype=float)


def encode_with_reasons(
    space: Any, smiles: Sequence[str], batch_size: int = 512
) -> tuple[np.ndarray, list[str | None]]:
    """Encode what can be encoded; NaN rows and a reason for molecules that cannot.

    A reason is a parse failure or the model's vocabulary/length limit, so a
    caller can report "cannot be encoded: ..." instead of losing the row.
    """
    smiles = [s if isinstance(s, str) else "" for s in smiles]
    z = np.full((len(smiles), space.latent_dim), np.nan, dtype=np.float64)
    reasons: list[str | None] = [None] * len(smiles)
    if not smiles:
        return z, reasons
    table = pd.DataFrame({"row": np.arange(len(smiles), dtype=np.int64), "smiles": smiles})
    encoded = space.encode_table(table, batch_size=batch_size)
    ok_rows = encoded.records["row"].to_numpy(dtype=np.int64)
    if len(ok_rows):
        z[ok_rows] = encoded.latent
    for row, reason in zip(encoded.rejects["row"], encoded.rejects["reason"], strict=True):
        reasons[int(row)] = str(reason)
    return z, reasons


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (complete or absent); OS errors become one-line InputError."""
    from molspace.io import atomic_path

    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            tmp.write_text(
                json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
