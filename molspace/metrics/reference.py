"""Reference statistics of a test set, stored as plain arrays (no pickle).

MOSES compares generated molecules with its test sets through precomputed
statistics: ChemNet mean/covariance (FCD), Morgan fingerprints (SNN), BRICS
fragment and Bemis-Murcko scaffold counts (Frag, Scaf) and property values
(Wasserstein distances). MOSES ships them as pickled Python objects; we convert
them once (``scripts/convert_moses_stats.py``) into ``.npz`` files that
``np.load(..., allow_pickle=False)`` reads, so evaluating never unpickles.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from molspace.errors import InputError

__all__ = [
    "MOSES_DIR_ENV",
    "PROPERTY_KEYS",
    "ReferenceStats",
    "build_reference",
    "load_moses_smiles",
    "load_reference",
    "moses_dir",
]

MOSES_DIR_ENV = "MOLSPACE_MOSES_DIR"
# MOSES's property names, plus heavy atoms (our own addition: SELFIES decoders drift small)
PROPERTY_KEYS = ("logP", "SA", "QED", "weight", "heavy_atoms")
_SPLITS = ("train", "test", "test_scaffolds")
_SCHEMA = 1


def moses_dir() -> Path:
    """Folder of the MOSES sets: ``$MOLSPACE_MOSES_DIR``, else the repo's ``libraries/moses``."""
    env = os.environ.get(MOSES_DIR_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "libraries" / "moses")
    for path in candidates:
        if (path / "test.csv.gz").is_file():
            return path
    raise InputError(
        f"MOSES data not found in {', '.join(str(p) for p in candidates)}: set {MOSES_DIR_ENV} "
        "to a folder holding test.csv.gz, train.csv.gz and stats/*.npz (libraries/moses in the "
        "molspace repository)"
    )


def load_moses_smiles(split: str) -> list[str]:
    """SMILES of a MOSES split ("train", "test" or "test_scaffolds"), in file order."""
    if split not in _SPLITS:
        raise InputError(f"unknown MOSES split {split!r}; expected one of {', '.join(_SPLITS)}")
    import pandas as pd

    path = moses_dir() / f"{split}.csv.gz"
    if not path.is_file():
        raise InputError(f"{path}: MOSES {split} set not found")
    frame = pd.read_csv(path, usecols=["SMILES"], dtype={"SMILES": object})
    return frame["SMILES"].tolist()


@dataclass(frozen=True)
class ReferenceStats:
    """Everything the MOSES metrics need to know about a reference (test) set."""

    name: str
    n: int
    fcd_mu: np.ndarray  # (512,) ChemNet penultimate-layer mean
    fcd_sigma: np.ndarray  # (512, 512) its covariance
    fingerprints: np.ndarray  # (n, 128) uint8: Morgan r=2, 1024 bits, np.packbits per row
    fragments: Mapping[str, int]  # BRICS fragment SMILES -> count
    scaffolds: Mapping[str, int]  # Bemis-Murcko scaffold SMILES (>= 2 rings) -> count
    properties: Mapping[str, np.ndarray]  # PROPERTY_KEYS -> per-molecule values
    meta: Mapping[str, object] = field(default_factory=dict)

    def property_mean(self, key: str) -> float:
        return float(np.mean(self.properties[key]))

    def save(self, path: str | Path) -> None:
        """Write a compressed ``.npz`` of plain arrays (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "schema": np.asarray(_SCHEMA, dtype=np.int64),
            "meta": np.asarray(json.dumps({"name": self.name, "n": self.n, **self.meta})),
            "fcd_mu": np.asarray(self.fcd_mu, dtype=np.float64),
            "fcd_sigma": np.asarray(self.fcd_sigma, dtype=np.float64),
            "fingerprints": np.ascontiguousarray(self.fingerprints, dtype=np.uint8),
            "frag_keys": np.asarray(list(self.fragments), dtype=np.str_),
            "frag_counts": np.asarray(list(self.fragments.values()), dtype=np.int64),
            "scaf_keys": np.asarray(list(self.scaffolds), dtype=np.str_),
            "scaf_counts": np.asarray(list(self.scaffolds.values()), dtype=np.int64),
        }
        for key, values in self.properties.items():
            arrays[f"prop_{key}"] = np.asarray(values, dtype=np.float64)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> ReferenceStats:
        """Read a file written by :meth:`save`; InputError names the file if it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["schema"]) != _SCHEMA:
                    raise InputError(f"{path}: reference statistics schema {int(data['schema'])}")
                meta = json.loads(str(data["meta"]))
                props = {k[5:]: data[k] for k in data.files if k.startswith("prop_")}
                return cls(
                    name=meta.pop("name"),
                    n=int(meta.pop("n")),
                    fcd_mu=data["fcd_mu"],
                    fcd_sigma=data["fcd_sigma"],
                    fingerprints=data["fingerprints"],
                    fragments=dict(
                        zip(data["frag_keys"].tolist(), data["frag_counts"].tolist(), strict=True)
                    ),
                    scaffolds=dict(
                        zip(data["scaf_keys"].tolist(), data["scaf_counts"].tolist(), strict=True)
                    ),
                    properties=props,
                    meta=meta,
                )
        except FileNotFoundError:
            raise InputError(f"{path}: reference statistics not found") from None
        except (KeyError, ValueError, OSError) as exc:
            raise InputError(f"{path}: not a molspace reference-statistics file ({exc})") from None


_CACHE: dict[str, ReferenceStats] = {}


def load_reference(split: str = "test") -> ReferenceStats:
    """MOSES's own statistics of ``split`` ("test" or "test_scaffolds"), cached per process."""
    if split not in ("test", "test_scaffolds"):
        raise InputError(f"no MOSES reference statistics for {split!r}; use test or test_scaffolds")
    if split not in _CACHE:
        _CACHE[split] = ReferenceStats.load(moses_dir() / "stats" / f"{split}.npz")
    return _CACHE[split]


def build_reference(
    smiles: Sequence[str], *, name: str = "reference", n_jobs: int = 1, batch_size: int = 512
) -> ReferenceStats:
    """Statistics of your own reference set (invalid SMILES are skipped, as MOSES does)."""
    from molspace.metrics.fcd import chemnet_stats
    from molspace.metrics.features import featurize

    table = featurize(smiles, n_jobs=n_jobs)
    if len(table.records) < 2:
        raise InputError(f"reference set {name!r} has {len(table.records)} valid molecules; need 2")
    mu, sigma = chemnet_stats(table.canonical, n_jobs=n_jobs, batch_size=batch_size)
    return ReferenceStats(
        name=name,
        n=len(table.records),
        fcd_mu=mu,
        fcd_sigma=sigma,
        fingerprints=table.fingerprints(),
        fragments=dict(table.fragment_counts()),
        scaffolds=dict(table.scaffold_counts()),
        properties={key: table.property(key) for key in PROPERTY_KEYS},
        meta={"n_input": table.n_input},
    )
