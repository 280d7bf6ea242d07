"""Convert MOSES's pickled reference statistics into plain ``.npz`` files (run once).

MOSES (molsets 0.3.1) ships ``test_stats.npz`` and ``test_scaffolds_stats.npz``
as one pickled dict each. This script is the only place molspace unpickles
them (``allow_pickle=True``, on files from the molsets wheel whose sha256 is
checked below) and writes ``libraries/moses/stats/{test,test_scaffolds}.npz``
holding only numeric and string arrays, which ``molspace.metrics`` reads with
``allow_pickle=False``. Heavy-atom counts (not part of MOSES's statistics) are
computed here from the same test SMILES, in file order.

    .venv/bin/python libraries/make_libraries.py --pickled-stats   # the inputs (not shipped)
    .venv/bin/python scripts/convert_moses_stats.py [--moses-dir libraries/moses]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from molspace.metrics.reference import ReferenceStats
from molspace.versions import versions

# sha256 of the files inside molsets-0.3.1-py3-none-any.whl (moses/dataset/data/)
_EXPECTED: dict[str, str | None] = {
    "test_stats.npz": "ded25073225a895d4ed17bf1d4223d27560e87ff4cb85786346ca1cc8efa03d3",
    "test_scaffolds_stats.npz": "7b7aba6c1474634a019bebf16f389d554cb9dd1021dfc8c1d1e54430a9f0e7f8",
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _heavy_atoms(smiles: list[str]) -> np.ndarray:
    counts = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        counts.append(np.nan if mol is None else mol.GetNumHeavyAtoms())
    return np.asarray(counts, dtype=np.float64)


def convert(moses: Path, split: str) -> Path:
    source = moses / f"{split}_stats.npz"
    if not source.exists():
        raise SystemExit(
            f"{source}: not found; extract it first with "
            "`python libraries/make_libraries.py --pickled-stats`"
        )
    digest = _sha256(source)
    expected = _EXPECTED[f"{split}_stats.npz"]
    if expected is not None and digest != expected:
        raise SystemExit(f"{source}: sha256 {digest} is not the molsets 0.3.1 file")
    with np.load(source, allow_pickle=True) as data:  # the one sanctioned unpickle
        stats = data["stats"].item()
    smiles = pd.read_csv(moses / f"{split}.csv.gz", dtype={"SMILES": object})["SMILES"].tolist()
    fps = np.asarray(stats["SNN"]["fps"], dtype=np.uint8)
    if fps.shape != (len(smiles), 1024):
        raise SystemExit(f"{source}: fingerprints {fps.shape} do not match {len(smiles)} SMILES")
    properties = {
        key: np.asarray(stats[key]["values"], dtype=np.float64)
        for key in ("logP", "SA", "QED", "weight")
    }
    properties["heavy_atoms"] = _heavy_atoms(smiles)
    reference = ReferenceStats(
        name=f"MOSES {split}",
        n=len(smiles),
        fcd_mu=np.asarray(stats["FCD"]["mu"], dtype=np.float64),
        fcd_sigma=np.asarray(stats["FCD"]["sigma"], dtype=np.float64),
        fingerprints=np.packbits(fps.astype(bool), axis=1),
        fragments={str(k): int(v) for k, v in stats["Frag"]["frag"].items()},
        scaffolds={str(k): int(v) for k, v in stats["Scaf"]["scaf"].items()},
        properties=properties,
        meta={
            "source": f"molsets 0.3.1 moses/dataset/data/{split}_stats.npz",
            "source_sha256": digest,
            "converted_with": {k: versions()[k] for k in ("numpy", "rdkit")},
            "heavy_atoms": "RDKit GetNumHeavyAtoms of the test SMILES (added by molspace)",
        },
    )
    out = moses / "stats" / f"{split}.npz"
    reference.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--moses-dir",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "libraries" / "moses",
    )
    args = parser.parse_args()
    for split in ("test", "test_scaffolds"):
        out = convert(args.moses_dir, split)
        print(f"{out}  {out.stat().st_size / 1e6:.1f} MB  sha256 {_sha256(out)}")


if __name__ == "__main__":
    main()
