"""The screen's docking stage and the docking objective component, with the real Vina on
tiny settings (a box 2 Å larger than 1s3v's crystal ligand, exhaustiveness 1)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from molspace.docking.target import load_target
from molspace.errors import ConfigError
from molspace.screening import screen
from molspace.screening.spec import ScreenSpec

pytestmark = pytest.mark.slow

TRIMETHOPRIM = "COc1cc(Cc2cnc(N)nc2N)cc(OC)c1OC"  # a DHFR inhibitor
LIBRARY = f"""\
{TRIMETHOPRIM} tmp
Oc1ccccc1 phenol
CCCCCCCCCC(=O)O decanoic
C1#CCC1 cyclobutyne
xyz bad
{TRIMETHOPRIM} tmp_again
CN(Cc1cnc2nc(N)nc(N)c2n1)c1ccc(cc1)C(=O)N[C@@H](CCC(O)=O)C(O)=O methotrexate
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "lib.smi"
    path.write_text(LIBRARY)
    return path


def _spec(dhfr_target: Path, **docking: object) -> ScreenSpec:
    stage = {
        "target": str(dhfr_target),
        "exhaustiveness": 1,
        "n_poses": 2,
        "seed": 1,
        "max_rotatable_bonds": 6,  # decanoic acid (8) becomes a docking reject
        "time_limit": 900,
        "chunk_size": 2,
        **docking,
    }
    return ScreenSpec.model_validate(
        {
            "screen": {"chunk_size": 3, "descriptors": ["mw", "qed"], "docking": stage},
            "filters": {"properties": {"mw": {"max": 400}}},  # methotrexate fails
            "objective": {"components": [{"type": "qed"}]},
        }
    )


def _poses(path: Path) -> list[Chem.Mol]:
    with gzip.open(path, "rt") as handle:
        supplier = Chem.SDMolSupplier()
        supplier.SetData(handle.read(), removeHs=False)
        return [m for m in supplier if m is not None]


def test_docking_stage_counts_poses_rejects_and_resume(
    dhfr_target: Path, library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = _spec(dhfr_target)
    result = screen([library], spec, out, workers=0)
    s, d = result.summary, result.summary["docking"]
    assert s["rows_in"] == 7 and s["rejected"] == 1 and s["passed"] == 4  # bad, dup, mtx out
    # every passing molecule is docked or a docking reject with its reason
    assert d["passed"] == d["selected"] + d["not_selected"] == 4 and d["not_selected"] == 0
    assert d["selected"] == d["docked"] + d["rejected"] and d["accounting_ok"]
    assert d["docked"] == 2 and d["rejected_by_reason"] == {"too_flexible": 1, "embedding": 1}
    rejects = pd.read_csv(out / "docking_rejects.csv")
    assert dict(zip(rejects["id"], rejects["reason"].str.split(":").str[0], strict=True)) == {
        "decanoic": "too_flexible",
        "cyclobutyne": "embedding",
    }
    table = result.results().set_index("id")
    assert table["docking_status"].notna().sum() == 4  # passing rows only
    assert pd.isna(table.loc["methotrexate", "docking_status"])  # failed the MW filter
    assert pd.isna(table.loc["tmp_again", "docking_status"])  # a duplicate is not docked
    assert table.loc["tmp", "docking_score"] < -4.0 and math.isfinite(table.loc["tmp", "qed"])
    # poses: the best pose of each docked molecule first, best score first, inside the box
    target = load_target(dhfr_target)
    poses = _poses(result.poses_path)
    firsts = [p for p in poses if p.GetIntProp("pose") == 1]
    assert [p.GetProp("id") for p in firsts] == [p.GetProp("id") for p in poses[:2]]
    scores = [float(p.GetProp("score")) for p in firsts]
    assert len(firsts) == 2 and scores == sorted(scores)
    for pose in firsts:
        assert float(pose.GetProp("score")) == pytest.approx(
            table.loc[pose.GetProp("id"), "docking_score"], abs=1e-3
        )
        heavy = [a.GetIdx() for a in pose.GetAtoms() if a.GetAtomicNum() > 1]
        assert target.box.contains(pose.GetConformer().GetPositions()[heavy], tolerance=0.5)
    top = result.top_k()
    assert list(top["id"]) == [p.GetProp("id") for p in firsts]  # ranked by docking score
    assert s["rank_by"] == "docking_score"

    # as if killed before its second chunk (decanoic acid, cyclobutyne) was stored: a re-run
    # docks only that chunk again and gives the same table
    (out / "docking" / "parts" / "part-000001.parquet").unlink()
    again = screen([library], spec, out, workers=0)
    assert again.summary["docking"]["chunks_computed"] == 1
    assert again.summary["docking"]["chunks_resumed"] == 1 and d["chunks"] == 2
    pd.testing.assert_frame_equal(again.results(), result.results())
    assert again.summary["docking"]["rejected_by_reason"] == d["rejected_by_reason"]
    # other docking settings into the same directory: refused, not mixed
    with pytest.raises(ConfigError, match="another target, docking settings"):
        screen([library], _spec(dhfr_target, exhaustiveness=2), out, workers=0)


@pytest.mark.dask
def test_funnel_docks_the_best_by_a_cheap_column_on_two_workers(
    dhfr_target: Path, library: Path, tmp_path: Path
) -> None:
    # the two lightest passing molecules (phenol docks; cyclobutyne has no 3D conformer),
    # one Dask task each
    spec = _spec(dhfr_target, funnel_top=2, funnel_by="mw", funnel_ascending=True, chunk_size=1)
    result = screen([library], spec, tmp_path / "out", workers=2)
    s, d = result.summary, result.summary["docking"]
    assert s["workers"] == 2 and "LocalCluster" in str(s["executor"])
    assert d["funnel_by"] == "mw" and d["selected"] == 2 and d["not_selected"] == 2
    table = result.results()
    passing = table[table["passed"]]
    best_two = passing.sort_values("mw", kind="stable")["id"].head(2)
    assert set(table.loc[table["docking_status"].notna(), "id"]) == set(best_two)
    assert d["docked"] == 1 and d["rejected_by_reason"] == {"embedding": 1} and d["accounting_ok"]
    assert len([p for p in _poses(result.poses_path) if p.GetIntProp("pose") == 1]) == d["docked"]


def test_docking_objective_component_scores_a_binder_and_rejects_with_a_reason(
    dhfr_target: Path,
) -> None:
    from molspace.docking.core import close_engines
    from molspace.scoring import Objective, ObjectiveSpec

    spec = ObjectiveSpec.model_validate(
        {
            "components": [
                {
                    "type": "docking",
                    "target": str(dhfr_target),
                    "exhaustiveness": 1,
                    "seed": 1,
                    "time_limit": 900,  # a loaded test machine is not a reason to reject
                },
                {"type": "qed"},
                {"type": "mw", "transform": {"kind": "step", "threshold": 500, "reverse": True}},
            ]
        }
    )
    objective = Objective.from_spec(spec)
    heavy = "C" * 40  # MW 563: vetoed by the cheap MW step, so never docked
    try:
        table = objective.score_mols(
            [Chem.MolFromSmiles(s) for s in (TRIMETHOPRIM, "C1#CCC1", heavy)]
        )
    finally:
        close_engines()
    assert list(table.columns) == list(objective.columns)
    binder, strained, vetoed = table.iloc[0], table.iloc[1], table.iloc[2]
    assert np.isnan(vetoed["docking"]) and vetoed["score"] == 0.0
    assert vetoed["docking_reason"] == "skipped: mw desirability 0 (the geometric mean is 0)"
    assert math.isfinite(binder["docking"]) and binder["docking"] < -4.0
    assert 0.0 < binder["docking_desirability"] <= 1.0 and binder["score"] > 0.0
    assert binder["docking_reason"] is None
    assert np.isnan(strained["docking"]) and strained["docking_desirability"] == 0.0
    assert strained["score"] == 0.0  # the geometric mean: a rejected docking vetoes
    assert str(strained["docking_reason"]).startswith("embedding")
