"""``molspace encode`` / ``decode`` / ``sample`` on the committed tiny bundle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from molspace.cli import app
from molspace.errors import VocabularyError

TINY = str(Path(__file__).resolve().parents[1] / "data" / "tiny_vae")


def test_encode_then_decode_round_trip_with_rejects(tmp_path: Path) -> None:
    library = tmp_path / "lib.smi"
    library.write_text("CCOC(=O)c1ccccc1 a\nnot_a_smiles b\n[Na+].[Cl-] c\nCc1ccccc1N d\n")
    out = tmp_path / "z.parquet"
    result = CliRunner().invoke(
        app, ["encode", str(library), "--out", str(out), "--model", TINY, "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table["id"]) == ["a", "d"]
    assert {"z_0", "z_15", "canonical_smiles"} <= set(table.columns)
    rejects = pd.read_csv(tmp_path / "z.rejects.csv")
    assert list(rejects["id"]) == ["b", "c"]
    assert len(table) + len(rejects) == 4

    decoded = tmp_path / "decoded.csv"
    result = CliRunner().invoke(
        app, ["decode", str(out), "--out", str(decoded), "--model", TINY, "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(decoded)
    assert list(frame["id"]) == ["a", "d"]
    assert frame["valid"].all() and (frame["heavy_atoms"] > 0).all()


def test_decode_npy_and_sample_are_seeded(tmp_path: Path) -> None:
    z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    first = CliRunner().invoke(
        app, ["decode", str(tmp_path / "z.npy"), "--model", TINY, "--threads", "1"]
    )
    assert first.exit_code == 0, first.output
    assert len(first.stdout.strip().splitlines()) == 6  # header + 5
    a = CliRunner().invoke(
        app, ["sample", "-n", "8", "--seed", "4", "--model", TINY, "-t", "1.0", "--threads", "1"]
    )
    b = CliRunner().invoke(
        app, ["sample", "-n", "8", "--seed", "4", "--model", TINY, "-t", "1.0", "--threads", "1"]
    )
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert a.stdout.splitlines()[0].split("\t")[:2] == ["id", "smiles"]


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bundle"
    bad.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "molspace", "sample", "-n", "2", "--model", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "model.json missing" in result.stderr
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), np.float32))
    result = CliRunner().invoke(app, ["decode", str(tmp_path / "wrong.npy"), "--model", TINY])
    assert isinstance(result.exception, VocabularyError) and "shape" in str(result.exception)
