"""Reports in a real browser, and an optimization's study in optuna-dashboard.

Every report kind (a whole workflow, a screen, an optimization, explore, map, anomaly)
is built from a real run with the tiny model, rendered by headless Chromium, and read
back: the numbers of the opening (``data-key`` elements) must be the ones in the
``summary.json`` beside the report. Screenshots are kept under
``<pytest basetemp>/artifacts`` (the path is printed) for a human to look at.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.report import KeyValues, MoleculeGrid, Plot, Table, Text, build_report
from molspace.report.plots import scatter_map
from molspace.report.run_dir import report_from_run, summary_path_for

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "data" / "tiny_vae")
DRUGS = str(ROOT / "libraries" / "drugs" / "chembl_drugs.csv")
MOSES_TEST = str(ROOT / "libraries" / "moses" / "test.csv.gz")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; make test installs it)",
)
pytestmark = [pytest.mark.slow]
SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Nc1ccc(O)cc1",
    "CN1CCC[C@H]1c1cccnc1",
    "O=C(O)c1ccccc1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "not_a_smiles",
]


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "artifacts"
    path.mkdir(exist_ok=True)
    print(f"\nreport screenshots: {path}")
    return path


# ---------------------------------------------------------------- sorting, script errors


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(len(SMILES))],
            "smiles": SMILES,
            "score": rng.random(len(SMILES)),
            "mw": rng.normal(300, 50, len(SMILES)),
        }
    )
    frame.loc[3, "score"] = np.nan
    sections = [
        Text("about", "A browser test report."),
        KeyValues("summary", {"n": len(SMILES)}),
        MoleculeGrid("molecules", SMILES, [f"m{i}" for i in range(len(SMILES))]),
        MoleculeGrid("again", SMILES[:3]),  # the same drawings, shared
        Table("scores", frame),
        Plot("map", scatter_map(rng.normal(size=(50, 2)), rng.random(50), label="score")),
    ]
    return build_report(sections, tmp / "report.html", title="browser test")


@needs_chromium
def test_report_loads_without_errors_and_shows_every_molecule(report_file, tmp_path):
    result = chromium(["--dump-dom", f"{report_file.as_uri()}#selftest"], tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-report-ready="1"' in body, body  # the whole script ran
    assert "data-js-errors" not in body, body
    assert 'data-selftest="ok"' in body, body  # every column sorted both ways in the browser
    assert len(re.findall(r'<figure class="mol"', dom)) == len(SMILES) - 1 + 3
    assert len(re.findall(r'<figure class="mol invalid"', dom)) == 1
    assert len(re.findall(r"<symbol\b", dom)) == len(SMILES) - 1  # each drawn once
    assert "Uncaught" not in result.stderr


# ---------------------------------------------------------------- real runs of each kind


def design_overrides() -> list[str]:
    return [
        "steps.screen.limit=200",
        "steps.screen.screen.chunk_size=100",
        f'steps.optimize.model="{TINY}"',
        "steps.optimize.budget=16",
        "steps.optimize.batch_size=8",
        "steps.optimize.top_hits=4",
        "steps.optimize.space.library_size=200",
        f'steps.optimize.novelty_reference="{DRUGS}"',
    ]


@pytest.fixture(scope="module")
def design_run(tmp_path_factory) -> Path:
    """The main job, reduced: screen 200 molecules, 16 oracle calls, report."""
    from molspace.workflow.runner import run_workflow

    out = tmp_path_factory.mktemp("design") / "run"
    run_workflow(
        ROOT / "workflows" / "design.toml",
        out=out,
        overrides=design_overrides(),
        workers=0,
        log=lambda _: None,
    )
    return out


@pytest.fixture(scope="module")
def analysis_runs(tmp_path_factory) -> dict[str, Path]:
    from molspace.analysis.runs import (
        AnomalyConfig,
        ExploreConfig,
        MapConfig,
        _space,
        run_anomaly,
        run_explore,
        run_map,
    )

    root = tmp_path_factory.mktemp("analyses")
    space = _space(TINY)
    explore = ExploreConfig(smiles="CC(=O)Nc1ccc(O)cc1", model=TINY, n_samples=60, n_probe=8)
    run_explore(explore, root / "explore", space)
    run_map(
        MapConfig(library=DRUGS, model=TINY, max_molecules=120, n_clusters=4), root / "map", space
    )
    anomaly = AnomalyConfig(
        library=DRUGS, reference=MOSES_TEST, n_reference=150, model=TINY, max_molecules=80
    )
    run_anomaly(anomaly, root / "anomaly", space)
    return {name: root / name for name in ("explore", "map", "anomaly")}


def report_for(kind: str, request: pytest.FixtureRequest) -> tuple[Path, Path | None]:
    """The report of ``kind`` and the design run (None for the analyses); each run is made
    the first time a test needs it."""
    if kind in ("explore", "map", "anomaly"):
        path, _ = report_from_run(request.getfixturevalue("analysis_runs")[kind])
        return path, None
    design_run: Path = request.getfixturevalue("design_run")
    if kind == "workflow":  # written by the workflow's own report step
        manifest = json.loads((design_run / "run.json").read_text())
        return design_run / manifest["steps"]["report"]["outputs"]["html"], design_run
    folder = {"screen": "screen/out", "optimize": "optimize/study"}[kind]
    path, _ = report_from_run(design_run / folder)
    return path, design_run


# the opening's numbers each kind must show (beyond the funnel)
EXPECTED = {
    "workflow": {"best_candidate", "best_hit", "margin", "candidates"},
    "screen": {"best_hit"},
    "optimize": {"best_candidate", "candidates"},
    "explore": {"in_band", "median_similarity"},
    "map": {"clusters", "mapped"},
    "anomaly": {"outliers", "threshold"},
}
DATA_KEY = re.compile(r'<(?:span|td)[^>]*data-key="([^"]+)" data-value="([^"]*)"[^>]*>([^<]*)<')


@needs_chromium
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_opening_equals_summary_json(kind, request, artifacts, tmp_path):
    report, design_run = report_for(kind, request)
    summary = json.loads(summary_path_for(report).read_text())
    result = chromium(["--dump-dom", report.as_uri()], tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-report-ready="1"' in body and "data-js-errors" not in body, body
    titles = [html_lib.unescape(t) for t in re.findall(r"<h2>([^<]*)</h2>", dom)]
    assert titles[:2] == ["The question", "The answer"], titles
    assert titles[-1] == "Raw files"

    shown = {key: (raw, html_lib.unescape(text)) for key, raw, text in DATA_KEY.findall(dom)}
    expected = {k: v for k, v in summary["answer"].items() if v is not None}
    expected.update(
        {f"funnel.{k}": v["count"] for k, v in summary["funnel"].items() if v["count"] is not None}
    )
    assert EXPECTED[kind] <= set(summary["answer"]), summary["answer"]
    assert summary["funnel"], "every kind has a funnel"
    assert {k for k in shown if shown[k][0]} == set(expected)
    for key, value in expected.items():
        raw, text = shown[key]
        assert float(raw) == pytest.approx(value, rel=1e-12), key
        # what a reader sees is the same number, rounded for display
        assert float(text.replace(",", "")) == pytest.approx(value, rel=5e-3, abs=5e-4), key
    if kind == "workflow":
        assert design_run is not None
        answer = summary["answer"]
        assert answer["margin"] == pytest.approx(answer["best_candidate"] - answer["best_hit"])
        funnel = {k: v["count"] for k, v in summary["funnel"].items()}
        screen = json.loads((design_run / "screen" / "out" / "summary.json").read_text())
        assert (funnel["read"], funnel["accepted"], funnel["passed"]) == (
            screen["rows_in"],
            screen["accepted"],
            screen["passed"],
        )
        shortlist = pd.read_parquet(design_run / "optimize" / "candidates.parquet")
        assert funnel["shortlisted"] == answer["candidates"] == len(shortlist)
        assert answer["best_candidate"] == pytest.approx(shortlist["score"].max())
        assert funnel["scored"] >= funnel["feasible"] >= funnel["novel"] >= len(shortlist)
        assert "Search history" in " ".join(titles) and "Latent map" in " ".join(titles)
        size = report.stat().st_size
        assert size < 1_500_000, size  # lean: one drawing per molecule, tables sliced

    shot = artifacts / f"report_{kind}.png"
    shot.unlink(missing_ok=True)
    result = chromium(
        [f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars", report.as_uri()],
        tmp_path / "profile",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"screenshot: {shot}")


# ---------------------------------------------------------------- optuna-dashboard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_optimize_study_opens_in_optuna_dashboard(design_run, tmp_path):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is in the dev extra")
    summary = json.loads((design_run / "optimize" / "study" / "summary.json").read_text())
    storage = summary["storage"]
    assert storage.startswith("sqlite:///")
    port = free_port()
    log = (tmp_path / "dashboard.log").open("w")
    script = Path(sys.executable).parent / "optuna-dashboard"
    command = [str(script), storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        studies = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                studies = get_json(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        assert studies is not None, (tmp_path / "dashboard.log").read_text()[-2000:]
        (study,) = [s for s in studies if s["study_name"] == summary["study_name"]]
        detail = get_json(f"{base}/api/studies/{study['study_id']}")
        assert len(detail["trials"]) == summary["n_trials"] > 0
        assert detail["directions"] == ["maximize"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
