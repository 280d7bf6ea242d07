"""Docking figures: redocking RMSD, PoseBusters pass rate, DHFR enrichment, throughput.

    python benchmarks/docking.py redock [--exhaustiveness 8]
    python benchmarks/docking.py posebusters [--n 100] [--target 1s3v]
    python benchmarks/docking.py enrichment [--n 1000] [--target 1s3v]
    python benchmarks/docking.py throughput [--n 24] [--exhaustiveness 2]

Every figure is printed beside its goal (issue 18) and, with ``--json FILE``, kept
with the date, versions and settings. Docking always goes through molspace's own
code (``dock_table`` / ``dock``); the throughput baseline is a plain one-process
loop over Vina's Python API with the same prepared ligands and settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molspace.docking.core import close_engines, dock_table  # noqa: E402
from molspace.docking.settings import DockingSettings  # noqa: E402
from molspace.docking.target import resolve_target  # noqa: E402

CODES = ("1ia1", "1of6", "1s3v", "1uou")
MOSES_TEST = ROOT / "libraries" / "moses" / "test.csv.gz"
DRUGS = ROOT / "libraries" / "drugs" / "chembl_drugs.csv"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _top_pose(sdf: str) -> Any:
    from rdkit import Chem

    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf, removeHs=False)
    return next(iter(supplier))


def redock(args: argparse.Namespace) -> dict[str, Any]:
    """Each crystal ligand re-docked into its own target; symmetry-aware heavy-atom RMSD."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    settings = DockingSettings(exhaustiveness=args.exhaustiveness, seed=args.seed, n_poses=9)
    rows = []
    for code in CODES:
        target = resolve_target(code)
        crystal = Chem.MolFromMolFile(str(target.reference_ligand()))
        smiles = Chem.MolToSmiles(crystal)
        started = time.perf_counter()
        table = dock_table(pd.DataFrame({"id": [code], "smiles": [smiles]}), target, settings)
        seconds = time.perf_counter() - started
        row = table.iloc[0]
        rmsd = math.nan
        if row["status"] == "ok":
            pose = Chem.RemoveHs(_top_pose(row["poses"]))
            rmsd = rdMolAlign.CalcRMS(pose, Chem.RemoveHs(crystal))
        rows.append(
            {
                "target": code,
                "status": row["status"],
                "reason": row["reason"],
                "score": round(float(row["score"]), 3),
                "rmsd": round(float(rmsd), 3),
                "seconds": round(seconds, 1),
                "load": _load(),
            }
        )
        print(
            f"{code}: score {row['score']:.2f} kcal/mol, top-pose RMSD {rmsd:.2f} Å "
            f"({seconds:.0f} s, load {_load()})",
            flush=True,
        )
    close_engines()
    good = sum(r["rmsd"] <= 2.0 for r in rows)
    print(f"redocking: {good}/4 within 2 Å (goal >= 3/4) at exhaustiveness {args.exhaustiveness}")
    return {"rows": rows, "within_2A": good, "settings": settings.model_dump()}


SECTIONS = {"redock": redock}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=sorted(SECTIONS))
    parser.add_argument("--exhaustiveness", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=None, help="molecules (section default)")
    parser.add_argument("--target", default="1s3v")
    parser.add_argument("--json", type=Path, default=None, help="append results here")
    args = parser.parse_args(argv)
    from molspace.versions import versions

    print(f"{args.section}: load average {_load()} at the start, {os.cpu_count()} cores")
    result = SECTIONS[args.section](args)
    if args.json is not None:
        record = {
            "section": args.section,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            "args": {k: str(v) for k, v in vars(args).items()},
            "result": result,
        }
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
