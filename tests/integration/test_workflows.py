"""Every shipped workflow runs end to end in a reduced mode, resumes and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from molspace.interrupt import EXIT_INTERRUPTED
from molspace.workflow.runner import run_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
TINY = str(ROOT / "tests" / "data" / "tiny_vae")
DRUGS = str(ROOT / "libraries" / "drugs" / "chembl_drugs.csv")


def quiet(_: str) -> None:
    """Workflow log lines are not needed in test output."""


def design_overrides(budget: int = 24) -> list[str]:
    return [
        "steps.screen.limit=400",
        "steps.screen.screen.chunk_size=200",
        f'steps.optimize.model="{TINY}"',
        f"steps.optimize.budget={budget}",
        "steps.optimize.batch_size=12",
        "steps.optimize.top_hits=6",
        "steps.optimize.space.library_size=200",
        f'steps.optimize.novelty_reference="{DRUGS}"',
    ]


def test_design_workflow_runs_resumes_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "design"
    first = run_workflow(
        WORKFLOWS / "design.toml", out=out, overrides=design_overrides(), workers=0, log=quiet
    )
    assert first.actions == {"screen": "ran", "optimize": "ran", "report": "ran"}
    manifest = json.loads((out / "run.json").read_text())
    assert {s["status"] for s in manifest["steps"].values()} == {"done"}
    assert manifest["versions"]["molspace"] and manifest["seed"] == 0
    screen = manifest["steps"]["screen"]["counts"]
    assert screen["rows_in"] == screen["accepted"] + screen["rejected"] == 400

    candidates = pd.read_parquet(out / manifest["steps"]["optimize"]["outputs"]["candidates"])
    assert len(candidates) > 0
    screened = set(pd.read_csv(out / "screen" / "out" / "top_k.csv")["smiles"])
    for smiles in candidates["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        assert mol is not None and mol.GetNumHeavyAtoms() >= 10  # valid, not degenerate
        assert smiles not in screened
    assert candidates["novel"].all() and candidates["feasible"].all()
    assert candidates["score"].is_monotonic_decreasing
    html = (out / manifest["steps"]["report"]["outputs"]["html"]).read_text()
    assert "<svg" in html
    for attribute in ("src=", "href="):  # self-contained: nothing is fetched at view time
        for quote in ("'", '"'):
            assert f"{attribute}{quote}http" not in html

    again = run_workflow(
        WORKFLOWS / "design.toml", out=out, overrides=design_overrides(), workers=0, log=quiet
    )
    assert set(again.actions.values()) == {"skipped"}

    # a changed optimize setting re-runs optimize and report, not the screen
    changed = run_workflow(
        WORKFLOWS / "design.toml",
        out=out,
        overrides=design_overrides(budget=30),
        workers=0,
        log=quiet,
    )
    assert changed.actions == {"screen": "skipped", "optimize": "ran", "report": "ran"}
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == 30  # the study resumed and honoured the new budget


def test_screen_library_workflow_reduced(tmp_path: Path) -> None:
    out = tmp_path / "screen"
    outcome = run_workflow(
        WORKFLOWS / "screen_library.toml",
        out=out,
        overrides=["steps.screen.limit=300"],
        workers=0,
        log=quiet,
    )
    assert outcome.actions == {"screen": "ran", "report": "ran"}
    summary = json.loads((out / "screen" / "out" / "summary.json").read_text())
    assert summary["rows_in"] == 300 and summary["accounting_ok"]
    results = pd.concat(
        pd.read_parquet(p) for p in (out / "screen" / "out" / "results").glob("*.parquet")
    )
    assert results["query_id"].notna().any()  # nearest approved drug for every molecule


def test_explore_workflow_reduced(tmp_path: Path) -> None:
    out = tmp_path / "explore"
    overrides = [
        f'steps.{step}.model="{TINY}"'
        for step in ("analogs", "towards_drug", "neighbourhood", "novelty")
    ]
    overrides += [
        "steps.analogs.n_samples=60",
        "steps.analogs.n_probe=8",
        'steps.analogs.keep="all"',
        "steps.novelty.n_reference=300",
        "steps.towards_drug.steps=8",
        # the tiny model decodes few distinct analogs: map a real library instead
        f'steps.neighbourhood.library="{DRUGS}"',
        "steps.neighbourhood.max_molecules=150",
    ]
    outcome = run_workflow(
        WORKFLOWS / "explore.toml", out=out, overrides=overrides, workers=0, log=quiet
    )
    assert set(outcome.actions.values()) == {"ran"}
    path = pd.read_csv(out / "towards_drug" / "interpolation.csv")
    assert len(path) >= 2
    scores = pd.read_csv(out / "novelty" / "anomaly_scores.csv")
    analogs = pd.read_csv(out / "analogs" / "analogs.csv")
    assert len(scores) == len(analogs)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 4 min idle; a loaded 2-core machine takes 2-3x that
def test_design_as_shipped_beats_the_best_screened_input(tmp_path: Path) -> None:
    """The README's main job on the shipped defaults (model, library, budget): its best
    novel candidate must score above the best molecule the screen found (about 4 min)."""
    out = tmp_path / "design"
    run_workflow(WORKFLOWS / "design.toml", out=out, workers=2, log=quiet)
    manifest = json.loads((out / "run.json").read_text())
    best_screened = pd.read_csv(out / "screen" / "out" / "top_k.csv")["score"].max()
    candidates = pd.read_parquet(out / manifest["steps"]["optimize"]["outputs"]["candidates"])
    screened = set(pd.read_parquet(out / "screen" / "out" / "results")["smiles"])
    assert not set(candidates["smiles"]) & screened  # novel: neither screened ...
    assert candidates["novel"].all()  # ... nor in the model's training set
    for smiles in candidates["smiles"].head(10):
        mol = Chem.MolFromSmiles(smiles)
        assert mol is not None and mol.GetNumHeavyAtoms() >= 10
    assert candidates["score"].iloc[0] > best_screened


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "design"
    command = [
        sys.executable,
        "-m",
        "molspace",
        "run",
        str(WORKFLOWS / "design.toml"),
        "--out",
        str(out),
        "--workers",
        "0",
    ]
    for item in design_overrides(budget=400):
        command += ["--set", item]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the optimizer is at work, then stop the job
        if "[optimize] running" in line:
            break
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == EXIT_INTERRUPTED, rest
    assert "re-run the same command to resume" in rest and "Traceback" not in rest
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["steps"]["screen"]["status"] == "done"
    assert manifest["steps"]["optimize"]["status"] == "interrupted"

    resumed = subprocess.run(command, capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "[screen] up to date, skipped" in resumed.stderr
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == 400


def test_train_workflow_reduced(tmp_path: Path) -> None:
    out = tmp_path / "train"
    library = tmp_path / "small.smi"  # the tokenizer encodes a whole library: keep it small
    head = pd.read_csv(ROOT / "libraries" / "moses" / "test.csv.gz", nrows=600)
    library.write_text("\n".join(head["SMILES"]) + "\n")
    overrides = [
        f'steps.train.library="{library}"',
        "steps.train.max_steps=6",
        "steps.map.max_molecules=120",
        "steps.map.n_clusters=3",
    ]
    outcome = run_workflow(
        WORKFLOWS / "train.toml", out=out, overrides=overrides, workers=0, log=quiet
    )
    assert set(outcome.actions.values()) == {"ran"}
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["steps"]["train"]["counts"]["steps"] == 6
    model = out / manifest["steps"]["train"]["outputs"]["model"]
    assert (model / "model.safetensors").is_file() and (model / "model.json").is_file()
    mapped = pd.read_parquet(out / "map" / "map.parquet")
    # drugs with SELFIES symbols unseen in 600 training molecules are rejected with reasons
    rejects = pd.read_csv(out / "map" / "rejects.csv")
    assert len(mapped) + len(rejects) == 120
    assert len(mapped) >= 30 and mapped["cluster"].nunique() == 3


def test_optimize_lead_workflow_reduced(tmp_path: Path) -> None:
    out = tmp_path / "lead"
    overrides = [
        f'steps.optimize.model="{TINY}"',
        "steps.optimize.budget=16",
        "steps.optimize.batch_size=8",
        f'steps.optimize.novelty_reference="{DRUGS}"',
        f'steps.path.model="{TINY}"',
        "steps.path.steps=6",
    ]
    outcome = run_workflow(
        WORKFLOWS / "optimize_lead.toml", out=out, overrides=overrides, workers=0, log=quiet
    )
    assert set(outcome.actions.values()) == {"ran"}
    summary = json.loads((out / "optimize" / "study" / "summary.json").read_text())
    assert summary["n_oracle_calls"] == 16
    assert summary["config"]["study_name"] == "haloperidol"  # the config file's settings
    assert summary["config"]["constraints"]["min_similarity"] == 0.4
    scored = pd.read_parquet(out / "optimize" / "study" / "scored.parquet")
    candidates = pd.read_parquet(out / "optimize" / "study" / "candidates.parquet")
    shortlist = pd.read_parquet(out / "optimize" / "candidates.parquet")
    assert len(scored) == 16
    feasible = scored[scored["feasible"].astype(bool)]
    assert candidates["smiles"].tolist() == feasible["smiles"].tolist()  # same order: rank
    assert set(shortlist["smiles"]) <= set(feasible["smiles"])
