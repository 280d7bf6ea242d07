"""``molspace screen`` from the shell: a run, and user errors as one line without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MOLSPACE = [sys.executable, "-m", "molspace"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOLSPACE, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def library(tmp_path) -> Path:
    path = tmp_path / "lib.smi"
    path.write_text("CC(=O)Oc1ccccc1C(=O)O aspirin\nC1CC broken\nCCO ethanol\nOCC again\n")
    return path


def test_cli_screens_in_process(tmp_path, library) -> None:
    config = tmp_path / "screen.toml"
    config.write_text('[screen]\ndescriptors = ["mw"]\ndedup = "smiles"\n')
    done = run(
        "screen", str(library), "--config", str(config), "--out", str(tmp_path / "out"),
        "--local-process", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 rows: 3 accepted (2 passed, 1 duplicates), 1 rejected" in done.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows_in"] == 4 and summary["rejected"] == 1


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d, lib: ["screen", str(d / "missing.smi"), "--out", str(d / "o")], "missing.smi"),
        (
            lambda d, lib: ["screen", str(lib), "--config", str(d / "bad.toml"), "--out", "o"],
            "bad.toml: filters.rule: unknown key",
        ),
        (
            lambda d, lib: ["screen", str(lib), "--config", str(d / "nope.toml"), "--out", "o"],
            "config file not found",
        ),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, library, make_args, message) -> None:
    (tmp_path / "bad.toml").write_text('[filters]\nrule = ["lipinski"]\n')
    done = run(*make_args(tmp_path, library), "--local-process", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
