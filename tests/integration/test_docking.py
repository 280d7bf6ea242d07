"""Docking with the real Vina on tiny settings: a known binder, rejects with reasons, the
time limit, and ``molspace dock`` end to end on a real 2-worker LocalCluster."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from molspace.docking.core import close_engines, dock_table
from molspace.docking.settings import DockingSettings
from molspace.docking.target import load_target

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "libraries" / "targets"
TRIMETHOPRIM = "COc1cc(Cc2cnc(N)nc2N)cc(OC)c1OC"  # a DHFR inhibitor
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's molspace, whatever the cwd
TINY = DockingSettings(exhaustiveness=1, n_poses=3, seed=7, time_limit=300)


def _poses(sdf: str) -> list[Chem.Mol]:
    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf, removeHs=False)
    return list(supplier)


def test_known_binder_docks_inside_the_box_and_bad_rows_are_rejects(dhfr_target: Path) -> None:
    target = load_target(dhfr_target)
    table = pd.DataFrame(
        {
            "id": ["tmp", "bad", "salt", "extra"],
            "smiles": [TRIMETHOPRIM, "C1CC", "CCO.Cl", "c1ccccc1"],
            "keep": [1, 2, 3, 4],
        }
    )
    try:
        out = dock_table(table, target, TINY)
    finally:
        close_engines()
    assert list(out["id"]) == ["tmp", "bad", "salt", "extra"] and list(out["keep"]) == [1, 2, 3, 4]
    assert list(out["status"]) == ["ok", "rejected", "rejected", "ok"]
    assert out.loc[1, "reason"].startswith("parse_error")
    assert out.loc[2, "reason"].startswith("fragments")
    best = out.loc[0]
    assert math.isfinite(best["score"]) and best["score"] < -4.0
    assert best["ligand_efficiency"] == pytest.approx(-best["score"] / 21)
    poses = _poses(best["poses"])
    assert 1 <= len(poses) == best["n_poses"] <= 3
    top = poses[0]
    assert top.GetProp("id") == "tmp" and float(top.GetProp("score")) == pytest.approx(
        best["score"], abs=1e-3
    )
    assert Chem.MolToSmiles(Chem.RemoveHs(top)) == Chem.CanonSmiles(TRIMETHOPRIM)
    heavy = [a.GetIdx() for a in top.GetAtoms() if a.GetAtomicNum() > 1]
    assert target.box.contains(top.GetConformer().GetPositions()[heavy], tolerance=0.5)
    scores = [float(p.GetProp("score")) for p in poses]
    assert scores == sorted(scores)


def test_time_limit_makes_a_reject_and_the_next_molecule_still_docks(dhfr_target: Path) -> None:
    target = load_target(dhfr_target)
    table = pd.DataFrame({"id": ["slow", "next"], "smiles": [TRIMETHOPRIM, "c1ccccc1O"]})
    settings = TINY.model_copy(update={"exhaustiveness": 32, "time_limit": 0.5})
    try:
        out = dock_table(table.iloc[:1], target, settings)
        after = dock_table(table.iloc[1:], target, TINY)
    finally:
        close_engines()
    assert out.loc[0, "status"] == "rejected"
    assert out.loc[0, "reason"] == "time_limit: Vina search exceeded 0.5 s"
    assert after.iloc[0]["status"] == "ok" and after.iloc[0]["score"] < 0


@pytest.mark.dask
def test_cli_docks_a_library_on_two_workers_and_resumes(dhfr_target: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib.csv"
    library.write_text(
        "smiles,name\n"
        f"{TRIMETHOPRIM},trimethoprim\n"
        "c1ccccc1O,phenol\n"
        "C1CC,broken\n"
        "NC(=N)c1ccccc1,benzamidine\n"
    )
    out = tmp_path / "out"
    args = [
        sys.executable, "-m", "molspace", "dock", str(library), "--target", str(dhfr_target),
        "--out", str(out), "--exhaustiveness", "1", "--poses", "2", "--chunk-size", "2",
        "--workers", "2", "--id-column", "name",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "4 rows: 3 docked, 1 rejected" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["executor"].startswith("LocalCluster")
    assert summary["rows_in"] == summary["docked"] + summary["rejected"] == 4
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["id"]) == ["trimethoprim", "phenol", "broken", "benzamidine"]
    assert (results.loc[results["status"] == "ok", "score"] < 0).all()
    rejects = pd.read_csv(out / "rejects.csv")
    assert list(rejects["id"]) == ["broken"] and rejects.loc[0, "reason"].startswith("parse")
    with gzip.open(out / "poses.sdf.gz", "rt") as handle:
        poses = _poses(handle.read())
    # the best pose of each of the 3 docked molecules first, then their second poses
    assert [p.GetProp("id") for p in poses[:3]] == ["trimethoprim", "phenol", "benzamidine"]
    assert {p.GetIntProp("pose") for p in poses[:3]} == {1}
    assert all(p.GetIntProp("pose") == 2 for p in poses[3:]) and len(poses) <= 6
    by_id = dict(zip(results["id"], results["score"], strict=True))
    assert float(poses[0].GetProp("score")) == pytest.approx(by_id["trimethoprim"], abs=1e-3)

    again = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=ENV)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "summary.json").read_text())["parts_computed"] == 0
    other = subprocess.run([*args[:-2], "--seed", "1"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env=ENV)  # fmt: skip
    assert other.returncode == 2 and "another target, settings or inputs" in other.stderr
    assert "Traceback" not in other.stderr


def test_cli_target_prepare_and_one_line_errors(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    prepare = [
        sys.executable, "-m", "molspace", "target", "prepare",
        str(SHIPPED / "1uou" / "protein.pdb.gz"), "--ligand", str(SHIPPED / "1uou" / "ligand.sdf"),
        "--padding", "4", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(prepare, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "target protein: box" in done.stdout
    assert load_target(out).box.size == pytest.approx(
        [s - 4.0 for s in load_target(SHIPPED / "1uou").box.size], abs=1e-3
    )
    for args, message in (
        (["dock", "lib.smi", "--target", "9xyz", "--out", "o"], "neither a bundle directory"),
        (["target", "prepare", "missing.pdb", "--ligand", "x.sdf", "--out", "o"], "missing.pdb"),
        (["target", "prepare", str(SHIPPED / "1uou" / "protein.pdb.gz"), "--out", "o"], "--ligand"),
    ):
        (tmp_path / "lib.smi").write_text("CCO ethanol\n")
        bad = subprocess.run(
            [sys.executable, "-m", "molspace", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=ENV,
        )  # fmt: skip
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
