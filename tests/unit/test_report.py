"""The HTML report: sections render, the file is self-contained, run directories are tolerated."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molspace.cli import app
from molspace.errors import InputError
from molspace.report import KeyValues, MoleculeGrid, Plot, Report, Table, Text, build_report
from molspace.report.plots import history_plot, property_histograms, scatter_map
from molspace.report.run_dir import report_from_run

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1", "O=C(O)c1ccccc1"]
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def assert_self_contained(text: str) -> None:
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    assert "<link" not in text.lower()
    assert "@import" not in text
    assert not re.search(r"url\(\s*['\"]?https?:", text)


def test_molecule_grid_has_one_card_per_molecule_and_marks_invalid_ones(tmp_path):
    legends = [f"m{i}" for i in range(len(SMILES) + 1)]
    grid = MoleculeGrid("hits", [*SMILES, "C1CC(("], legends)
    html = build_report([grid], tmp_path / "r.html").read_text()
    assert html.count("<figure class='mol'") == len(SMILES)
    assert html.count("<figure class='mol invalid'") == 1
    assert html.count("<svg") == len(SMILES)
    assert "<?xml" not in html  # inline SVG must not carry an XML declaration
    assert "m5" in html and "C1CC((" in html
    assert_self_contained(html)


def test_grid_caps_molecules_and_says_so():
    html = MoleculeGrid("many", SMILES * 3, max_molecules=4).render()
    assert html.count("<figure") == 4
    assert "showing 4 of 15" in html


def test_grid_rejects_mismatched_legends():
    with pytest.raises(ValueError, match="legends"):
        MoleculeGrid("x", SMILES, ["a"])


def test_table_escapes_text_and_keeps_raw_numbers_for_sorting():
    frame = pd.DataFrame({"id": ["<script>alert(1)</script>", "b"], "score": [0.123456, np.nan]})
    html = Table("t", frame).render()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "data-v='0.123456'" in html and "data-v=''" in html
    assert "data-type='num'" in html and "data-type='text'" in html


def test_text_and_key_values_escape_and_flatten():
    assert Text("t", "a <b>\n\nsecond").render() == "<p>a &lt;b&gt;</p><p>second</p>"
    html = KeyValues("k", {"outer": {"inner": 1.5}, "flag": True}).render()
    assert "outer.inner" in html and "1.5" in html and "True" in html


def test_plots_are_inline_png_and_svg():
    fig = scatter_map(np.random.default_rng(0).normal(size=(40, 2)), np.arange(40), label="x")
    html = Plot("map", fig, caption="cap").render()
    assert "src='data:image/png;base64," in html and "cap" in html
    svg = Plot("s", "<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'></svg>").render()
    assert "<?xml" not in svg and "<svg" in svg
    with pytest.raises(ValueError):
        Plot("bad", "not svg").render()
    frames = {"a": pd.DataFrame({"qed": [0.1, 0.5]}), "b": pd.DataFrame({"qed": [0.3]})}
    assert property_histograms(frames, ["qed", "absent"]).axes
    assert history_plot([3, 1, 4, 1, 5]).axes


def test_report_object_collects_sections_and_writes_provenance(tmp_path):
    report = Report("my run", subtitle="sub").add(Text("a", "x")).add(Text("b", "y"))
    report.metadata["seed"] = 7
    text = report.write(tmp_path / "sub" / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "my run" in text and "seed" in text and "rdkit" in text
    assert text.count("<section") == 2
    assert_self_contained(text)


def test_report_write_errors_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        build_report([Text("a", "b")], blocker / "report.html")


def make_run_dir(root):
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "smiles": SMILES[:3],
            "score": [0.2, 0.9, 0.5],
            "qed": [0.4, 0.5, 0.6],
        }
    ).to_parquet(root / "top_hits.parquet")
    (root / "summary.json").write_text(json.dumps({"n_read": 5, "n_ok": 3, "n_rejected": 2}))
    pd.DataFrame(
        {
            "source": ["lib.smi"] * 2,
            "row": [4, 5],
            "id": ["d", "e"],
            "input": ["C((", "[Xx]"],
            "reason": ["parse_error: x", "parse_error: y"],
        }
    ).to_csv(root / "rejects.csv", index=False)
    pd.DataFrame(
        {"number": range(6), "value": [0.1, 0.3, 0.2, 0.5, 0.4, 0.6], "smiles": [*SMILES, "CC"]}
    ).to_csv(root / "trials.csv", index=False)
    (root / "notes.bin").write_bytes(b"\x00\x01")
    (root / "broken.parquet").write_bytes(b"not parquet")
    return root


def test_report_from_run_dir_renders_what_exists_and_notes_what_it_cannot(tmp_path):
    run = make_run_dir(tmp_path / "run")
    path, n = report_from_run(run)
    text = path.read_text()
    assert path == run / "report.html" and n >= 6
    titles = re.findall(r"<h2>([^<]*)</h2>", text)
    assert titles[0] == "summary.json"  # summaries first
    assert any("top 3 of 3 by score" in t for t in titles)
    assert any("optimization history" in t for t in titles)
    assert any("rejected rows by reason" in t for t in titles)
    assert any(t.startswith("broken.parquet: not shown") for t in titles)
    # best score first in the grid
    section = text.split("<h2>top_hits.parquet: top 3")[1].split("</section>")[0]
    assert re.findall(r"data-smiles='([^']*)'", section) == [SMILES[1], SMILES[2], SMILES[0]]
    assert_self_contained(text)
    # re-running ignores its own previous report
    _, n_again = report_from_run(run)
    assert n_again == n


def test_report_cli_writes_file_and_fails_in_one_line(tmp_path):
    run = make_run_dir(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").is_file() and "sections" in result.output
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "molspace", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: run directory not found"
    ]


def test_empty_run_dir_still_gives_a_report(tmp_path):
    (tmp_path / "empty").mkdir()
    path, n = report_from_run(tmp_path / "empty")
    assert n == 1 and "nothing to report" in path.read_text()
