"""Writers round-trip through the readers; atomic writes leave nothing half-written."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from molspace.errors import InputError
from molspace.io import RejectsWriter, atomic_path, read_library, write_table

TABLE = pd.DataFrame(
    {
        "id": ["mol-1", "mol 2", "m3"],
        "smiles": ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1"],
        "score": [0.5, 1.25, -3.0],
        "note": ["a, with comma", 'quote "x"', "plain"],
    }
)


def read_back(path: Path, **options: object) -> pd.DataFrame:
    chunks = list(read_library(path, **options))  # type: ignore[arg-type]
    assert all(c.rejects.empty for c in chunks)
    return pd.concat([c.records for c in chunks], ignore_index=True)


@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".tsv", ".tsv.gz"])
def test_delimited_round_trip(tmp_path, ext):
    path = write_table(TABLE, tmp_path / f"out{ext}")
    back = read_back(path)
    assert back["id"].tolist() == TABLE["id"].tolist()
    assert back["smiles"].tolist() == TABLE["smiles"].tolist()
    assert back["note"].tolist() == TABLE["note"].tolist()
    assert back["score"].astype(float).tolist() == TABLE["score"].tolist()


def test_gzip_output_is_reproducible(tmp_path):
    a = write_table(TABLE, tmp_path / "a.csv.gz").read_bytes()
    b = write_table(TABLE, tmp_path / "b.csv.gz").read_bytes()
    assert a == b and a[:2] == b"\x1f\x8b"


def test_parquet_round_trip_keeps_dtypes(tmp_path):
    path = write_table(TABLE, tmp_path / "out.parquet")
    back = read_back(path)
    assert back["id"].tolist() == TABLE["id"].tolist()
    assert back["score"].tolist() == TABLE["score"].tolist()
    assert back["score"].dtype == "float64"


@pytest.mark.parametrize("ext", [".sdf", ".sdf.gz"])
def test_sdf_round_trip(tmp_path, ext):
    path = write_table(TABLE, tmp_path / f"out{ext}")
    back = read_back(path)
    assert back["id"].tolist() == TABLE["id"].tolist()  # the title line
    assert back["smiles"].tolist() == TABLE["smiles"].tolist()
    assert back["score"].astype(float).tolist() == TABLE["score"].tolist()
    assert back["note"].tolist() == TABLE["note"].tolist()


def test_sdf_writer_refuses_unparseable_smiles(tmp_path):
    bad = pd.DataFrame({"id": ["x"], "smiles": ["C1CC"]})
    with pytest.raises(InputError, match="row 1: cannot write SMILES 'C1CC'"):
        write_table(bad, tmp_path / "bad.sdf")
    assert not (tmp_path / "bad.sdf").exists()
    assert list(tmp_path.iterdir()) == []


def test_smi_round_trip_keeps_ids_with_spaces(tmp_path):
    path = write_table(TABLE, tmp_path / "out.smi")
    back = read_back(path)
    assert back["id"].tolist() == ["mol-1", "mol 2", "m3"]
    assert back["smiles"].tolist() == TABLE["smiles"].tolist()


def test_unknown_output_format(tmp_path):
    with pytest.raises(InputError, match="cannot write this format"):
        write_table(TABLE, tmp_path / "out.xlsx")
    with pytest.raises(InputError, match="needs a 'smiles' column"):
        write_table(TABLE.drop(columns="smiles"), tmp_path / "out.smi")


def test_atomic_path_failure_leaves_no_file(tmp_path):
    target = tmp_path / "sub" / "result.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "result.csv"
    write_table(TABLE, target)
    before = target.read_bytes()

    class Exploding(pd.DataFrame):
        def to_csv(self, *args, **kwargs):  # a writer that dies half-way
            args[0].write("id,smiles\npartial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_table(Exploding(TABLE), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_atomic_path_success_and_hidden_temp_name(tmp_path):
    target = tmp_path / "x.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.name.endswith(".parquet")
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"


def test_rejects_writer_appends_and_counts(tmp_path):
    path = tmp_path / "rejects.csv"
    chunks = list(
        read_library(Path(__file__).parents[1] / "data" / "io" / "bad_rows.csv", chunk_size=2)
    )
    with RejectsWriter(path) as writer:
        total = sum(writer.write(c.rejects) for c in chunks)
        assert writer.count == total == 4
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == ["source", "row", "id", "input", "reason"]
    assert back["row"].tolist() == ["3", "5", "6", "7"]
    assert back["reason"].iloc[0] == "expected 3 columns, found 2"
    # a resumed run continues the file without a second header
    with RejectsWriter(path, append=True) as writer:
        writer.write(chunks[0].rejects)
        assert writer.count == 1
    assert len(pd.read_csv(path)) == 5
    # a fresh run starts over
    with RejectsWriter(path) as writer:
        assert writer.count == 0
    assert len(pd.read_csv(path)) == 0


def test_rejects_writer_gzip_and_screening_rows(tmp_path):
    path = tmp_path / "rejects.csv.gz"
    failed = pd.DataFrame(
        {
            "source": ["lib.smi"],
            "row": [7],
            "id": ["x"],
            "smiles": ["C1CC" + "C" * 500],
            "reason": ["parse_error: unclosed ring"],
        }
    )
    with RejectsWriter(path) as writer:
        writer.write(failed)  # "smiles" stands in for "input"
        writer.write(failed)
    with gzip.open(path, "rt") as fh:
        back = pd.read_csv(fh)
    assert len(back) == 2 and back["input"].str.len().max() <= 200
    with pytest.raises(ValueError, match="lacks column"), RejectsWriter(tmp_path / "r.csv") as w:
        w.write(failed.drop(columns="reason"))
