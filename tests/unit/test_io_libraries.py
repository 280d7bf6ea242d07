"""The shipped libraries are the recorded upstream bytes and read completely."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from molspace.io import count_records, read_library

ROOT = Path(__file__).resolve().parents[2] / "libraries"


def _make_libraries():
    spec = importlib.util.spec_from_file_location("make_libraries", ROOT / "make_libraries.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_checksums_match_readme_and_files(capsys):
    make = _make_libraries()
    assert make.check(ROOT) == 0
    readme = (ROOT / "README.md").read_text()
    for item in make.FILES:
        assert item.sha256 in readme, f"{item.dest} checksum missing from README"
    assert "absent" not in capsys.readouterr().out


def test_check_reports_a_changed_file(tmp_path, capsys):
    make = _make_libraries()
    (tmp_path / "nci").mkdir()
    (tmp_path / "nci" / "first_5K.smi").write_text("CCO tampered\n")
    assert make.check(tmp_path) == 1
    assert "MISMATCH nci/first_5K.smi" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("drugs/chembl_drugs.csv", 1935), ("nci/first_5K.smi", 4999)],
)
def test_small_library_counts(name, expected):
    chunks = list(read_library(ROOT / name, chunk_size=1000))
    assert sum(c.n_accepted for c in chunks) == expected
    assert sum(c.n_rejected for c in chunks) == 0
    assert count_records(ROOT / name) == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("moses/train.csv.gz", 1_584_663),
        ("moses/test.csv.gz", 176_074),
        ("moses/test_scaffolds.csv.gz", 176_225),
    ],
)
def test_moses_counts(name, expected):
    accepted = rejected = 0
    for chunk in read_library(ROOT / name, chunk_size=100_000):
        accepted += chunk.n_accepted
        rejected += chunk.n_rejected
    assert (accepted, rejected) == (expected, 0)
