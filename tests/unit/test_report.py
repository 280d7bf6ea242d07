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
from molspace.report.plots import (
    history_plot,
    property_histograms,
    scatter_map,
    search_history_plot,
)
from molspace.report.run_dir import report_from_run, summary_path_for
from molspace.report.sections import Funnel, FunnelRow, Headline, Stat
from molspace.report.story import describe_objective

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
    assert html.count("<symbol ") == html.count("<use href=") == len(SMILES)
    assert "<?xml" not in html  # inline SVG must not carry an XML declaration
    assert "m5" in html and "C1CC((" in html
    assert_self_contained(html)


def test_each_molecule_is_drawn_once_per_page(tmp_path):
    grids = [MoleculeGrid("a", SMILES), MoleculeGrid("b", SMILES[::-1] + SMILES[:2])]
    html = build_report(grids, tmp_path / "r.html").read_text()
    assert html.count("<symbol ") == len(SMILES)  # one drawing per distinct molecule
    assert html.count("<use href=") == 2 * len(SMILES) + 2  # one card per row asked for
    ids = re.findall(r"<symbol id='([^']+)'", html)
    assert set(re.findall(r"<use href='#([^']+)'", html)) == set(ids)
    assert " style='" not in html.split("<defs>")[1].split("</defs>")[0]  # styles are classes
    # standalone rendering (no page) still gives complete inline SVG
    alone = MoleculeGrid("c", SMILES[:1]).render()
    assert "<use" not in alone and "<path" in alone


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


def test_long_table_shows_a_slice_and_links_the_whole_file():
    frame = pd.DataFrame({"x": range(20_000)})
    html = Table("t", frame.head(50), max_rows=50, total_rows=20_000, link="../a b.csv").render()
    assert html.count("<tr>") == 51  # header + 50 rows
    assert "Showing 50 of 20,000 rows" in html and "href='../a%20b.csv'" in html


def test_headline_and_funnel_carry_their_numbers():
    html = Headline("answer", [Stat("best", "best", 0.91234), Stat("n", "n", 7)]).render()
    assert "data-key='best' data-value='0.91234'>0.912<" in html
    assert "data-key='n' data-value='7'>7<" in html
    rows = [
        FunnelRow("read", "read", 20_000, "screen", 12.5),
        FunnelRow("top_k", "top-k", 50, "screen"),
        FunnelRow("scored", "scored", 1000, "optimize", 3700.0, nested=False),
        FunnelRow("novel", "novel", 400, "optimize"),
    ]
    html = Funnel("funnel", rows).render()
    assert "data-key='funnel.read' data-value='20000'>20,000<" in html
    assert "0.2%" in html and "40.0%" in html  # share of the stage before
    assert "5000.0%" not in html  # a new source (scored) has no share
    assert "12.5 s" in html and "1 h 1 min" in html


def test_objective_in_words():
    head, lines, labels = describe_objective(
        {
            "aggregation": "geometric",
            "components": [
                {
                    "type": "similarity",
                    "name": "sim",
                    "smiles": ["CCO"],
                    "transform": {"kind": "sigmoid", "low": 0.2, "high": 0.6},
                    "weight": 3,
                },
                {"type": "sa", "transform": {"kind": "reverse_sigmoid", "low": 2, "high": 4.5}},
            ],
        }
    )
    assert "geometric mean of 2" in head and "vetoes" in head
    assert lines[0].startswith("sim: Tanimoto similarity (Morgan) to CCO; higher is better")
    assert "weight 3 (75%)" in lines[0]
    assert "lower is better (reverse sigmoid: 1 at 2, 0 at 4.5)" in lines[1]
    assert labels == ["sim", "sa"]
    assert describe_objective(None) == ("", [], [])


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
    table = pd.DataFrame({"oracle_call": range(1, 31), "score": np.linspace(0, 1, 30)[::-1]})
    ax = search_history_plot(table, "score", best_hit=0.5).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["best", "top-10 mean", "best screened hit"]
    top10 = ax.get_lines()[1].get_ydata()
    assert np.isnan(top10[:9]).all() and top10[9] == pytest.approx(
        np.linspace(0, 1, 30)[::-1][:10].mean()
    )


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


def test_screen_report_opens_with_question_answer_and_funnel(tmp_path):
    """A real (in-process) screen: the opening's numbers are the screen's own counts."""
    from molspace.config import parse_config
    from molspace.screening import ScreenSpec, screen

    library = tmp_path / "lib.csv"
    smiles = [*SMILES * 2, "C1CC((", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"]
    pd.DataFrame({"smiles": smiles}).to_csv(library, index=False)
    spec = parse_config(
        ScreenSpec,
        {
            "screen": {"chunk_size": 4, "descriptors": ["mw", "qed"], "top_k": 3},
            "filters": {"rules": ["lipinski"], "properties": {"mw": {"min": 60}}},
            "objective": {
                "components": [
                    {"type": "qed", "weight": 2},
                    {"type": "mw", "transform": {"kind": "sigmoid", "low": 100, "high": 300}},
                ]
            },
        },
        "test.toml",
    )
    result = screen([library], spec, tmp_path / "run" / "out", workers=0)
    counts = result.summary
    path, _ = report_from_run(tmp_path / "run", tmp_path / "run" / "report" / "report.html")
    summary_path = summary_path_for(path)
    assert summary_path == path.parent / "summary.json"
    summary = json.loads(summary_path.read_text())
    funnel = {k: v["count"] for k, v in summary["funnel"].items()}
    assert funnel == {
        "read": counts["rows_in"],
        "accepted": counts["accepted"],
        "distinct": counts["unique_molecules"],
        "passed": counts["passed"],
        "top_k": 3,
    }
    top = pd.read_csv(result.out_dir / "top_k.csv")
    assert summary["answer"]["best_hit"] == pytest.approx(top["score"].max())
    assert "qed" in summary["question"]["facts"]["objective"] or summary["question"]["components"]
    html = path.read_text()
    titles = re.findall(r"<h2>([^<]*)</h2>", html)
    assert titles[:3] == ["The question", "The answer", "The funnel: molecules kept at each stage"]
    assert titles[-1] == "Raw files"
    for key, count in funnel.items():
        assert f"data-key='funnel.{key}' data-value='{count}'" in html
    assert "href='../out/top_k.csv'" in html  # links are relative to the report
    assert "href='../out/results'" in html
    assert "qed: drug-likeness" in html
    assert counts["unique_molecules"] < counts["accepted"]  # the library repeats molecules
    assert_self_contained(html)
    # a report written into the screen's own folder keeps the screen's summary.json intact
    own, _ = report_from_run(result.out_dir)
    assert json.loads((result.out_dir / "summary.json").read_text())["rows_in"] == counts["rows_in"]
    assert summary_path_for(own) == result.out_dir / "report_summary.json"
    assert summary_path_for(own).is_file()


def test_optimize_summary_keys_from_newer_runs_are_shown(tmp_path):
    """Rejections before scoring and feasible/scored counts, when a summary has them;
    docking scores beside the structures, when a table has them."""
    study = tmp_path / "opt" / "study"
    study.mkdir(parents=True)
    table = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "smiles": SMILES[2:5],
            "oracle_call": [2, 1, 3],
            "score": [0.9, 0.5, 0.4],
            "qed_desirability": [0.8, 0.6, 0.5],
            "feasible": [True, True, False],
            "docking_score": [-8.25, -6.0, -5.5],
        }
    )
    table.to_parquet(study / "candidates.parquet")
    summary = {
        "n_oracle_calls": 3,
        "n_trials": 4,
        "n_scored": 3,
        "n_feasible": 2,
        "prefilter_rejections": {"alerts": 5, "ring_size": 2},
    }
    (study / "summary.json").write_text(json.dumps(summary))
    path, _ = report_from_run(study)
    report = json.loads(summary_path_for(path).read_text())
    funnel = {k: v["count"] for k, v in report["funnel"].items()}
    assert funnel == {"scored": 3, "feasible": 2}
    assert report["optimize"]["prefilter_rejections"] == {"alerts": 5, "ring_size": 2}
    assert report["answer"]["best_candidate"] == 0.9
    html = path.read_text()
    assert "7 decoded molecules rejected before scoring" in html
    assert "rejected before scoring" in html and "ring_size" in html
    assert "docking -8.25 kcal/mol" in html  # beside the structure
    assert "not recorded here; the score combines qed" in html
