"""Render a report in headless Chromium: it loads, runs its script without errors,
shows the expected number of molecules, and its table sorting works in a real browser.

The screenshot is kept under test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molspace.report import KeyValues, MoleculeGrid, Plot, Table, Text, build_report
from molspace.report.plots import scatter_map

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install chromium; make test installs it)",
    ),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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
        Table("scores", frame),
        Plot("map", scatter_map(rng.normal(size=(50, 2)), rng.random(50), label="score")),
    ]
    return build_report(sections, tmp / "report.html", title="browser test")


def test_report_loads_without_errors_and_shows_every_molecule(report_file, tmp_path):
    result = chromium(["--dump-dom", f"{report_file.as_uri()}#selftest"], tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-report-ready="1"' in body, body  # the whole script ran
    assert "data-js-errors" not in body, body
    assert 'data-selftest="ok"' in body, body  # every column sorted both ways in the browser
    assert len(re.findall(r'<figure class="mol"', dom)) == len(SMILES) - 1
    assert len(re.findall(r'<figure class="mol invalid"', dom)) == 1
    assert len(re.findall(r"<svg\b", dom)) >= len(SMILES) - 1
    assert "Uncaught" not in result.stderr


def test_report_screenshot_is_kept_as_artifact(report_file, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report_browser.png"
    shot.unlink(missing_ok=True)
    result = chromium(
        [
            f"--screenshot={shot}",
            "--window-size=1280,1800",
            "--hide-scrollbars",
            report_file.as_uri(),
        ],
        tmp_path / "profile",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
