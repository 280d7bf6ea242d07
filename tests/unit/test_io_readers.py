"""Every reader on good and deliberately broken files; rows read == accepted + rejected."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molspace.errors import InputError
from molspace.io import REJECT_COLUMNS, ReadChunk, count_records, detect_format, read_library
from molspace.io import text as text_reader

DATA = Path(__file__).resolve().parents[1] / "data" / "io"


def read_all(path: Path | str, **options: object) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Read a whole file, checking the invariants every chunk must hold."""
    records, rejects, n_read = [], [], 0
    chunk_size = int(options.get("chunk_size", 10_000))  # type: ignore[call-overload]
    for chunk in read_library(path, **options):  # type: ignore[arg-type]
        assert isinstance(chunk, ReadChunk)
        assert chunk.n_read == len(chunk.records) + len(chunk.rejects)
        assert 0 < chunk.n_read <= chunk_size
        assert list(chunk.records.columns[:4]) == ["source", "row", "id", "smiles"]
        assert list(chunk.rejects.columns) == list(REJECT_COLUMNS)
        assert chunk.records["row"].dtype == "int64"
        assert chunk.rejects["row"].dtype == "int64"
        assert (chunk.records["smiles"].str.len() > 0).all()
        assert (chunk.records["id"].str.len() > 0).all()
        assert (chunk.rejects["reason"].str.len() > 0).all()
        records.append(chunk.records)
        rejects.append(chunk.rejects)
        n_read += chunk.n_read
    rec = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    rej = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
    assert n_read == len(rec) + len(rej)
    if n_read:
        both = pd.concat([rec[["source", "row"]], rej[["source", "row"]]])
        assert not both.duplicated().any(), "a row was emitted twice"
        # chunks come in row order within each source
        for _, group in pd.concat([rec[["source", "row"]], rej[["source", "row"]]]).groupby(
            "source"
        ):
            assert group["row"].min() >= 1
    return rec, rej, n_read


def test_smi_ids_comments_blank_lines():
    rec, rej, n = read_all(DATA / "ids_comments.smi")
    assert n == 5 and rej.empty
    assert rec["row"].tolist() == [2, 4, 6, 7, 8]  # line numbers; comments/blank lines skipped
    assert rec["id"].tolist() == [
        "ethanol",
        "benzene",
        "acetic acid",
        "ids_comments:7",
        "still-read-as-text",
    ]
    # readers do not judge chemistry: an invalid SMILES is still a record
    assert rec["smiles"].tolist()[-1] == "not_a_smiles"
    assert count_records(DATA / "ids_comments.smi") == 5


def test_smi_header_and_crlf():
    rec, _rej, _ = read_all(DATA / "header.smi")
    assert rec[["row", "id", "smiles"]].values.tolist() == [
        [2, "ethanol", "CCO"],
        [3, "ethylamine", "CCN"],
    ]
    assert count_records(DATA / "header.smi") == 2


def test_smi_wide_header_is_a_table():
    rec, rej, n = read_all(DATA / "wide.smi")
    assert n == 3
    assert rec["mw"].tolist() == ["46.07", "45.08"]
    assert rej[["row", "reason"]].values.tolist() == [[4, "expected 3 columns, found 2"]]


def test_smi_column_names_need_a_header():
    with pytest.raises(InputError, match="no header line"):
        read_all(DATA / "ids_comments.smi", id_column="name")


def test_nci_library_reads_completely():
    rec, rej, n = read_all("libraries/nci/first_5K.smi", chunk_size=1000)
    assert n == 4999 and rej.empty
    assert rec["id"].iloc[0] == "1" and rec["row"].iloc[-1] == 4999


def test_csv_quoted_fields_and_multiline_values():
    rec, rej, _ = read_all(DATA / "quoted.csv")
    assert rej.empty
    assert rec["id"].tolist() == ["m1", "m2", "m3"]
    assert rec["smiles"].tolist() == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert rec["note"].tolist() == ["plain, with comma", "two\nlines", 'say "hi"']
    assert rec["row"].tolist() == [2, 3, 5]  # the line each record starts on


def test_csv_bad_rows_are_rejected_with_reasons():
    rec, rej, n = read_all(DATA / "bad_rows.csv")
    assert n == 6  # the blank line is not a record
    assert rec[["row", "smiles", "Name", "score"]].values.tolist() == [
        [2, "CCO", "a", "1.0"],
        [8, "c1ccncc1", "f", "6.0"],
    ]
    assert rej[["row", "reason"]].values.tolist() == [
        [3, "expected 3 columns, found 2"],
        [5, "empty SMILES"],
        [6, "expected 3 columns, found 4"],
        [7, "empty SMILES"],
    ]
    assert rej["input"].tolist()[0] == "b,CCN"
    assert set(rej["source"]) == {str(DATA / "bad_rows.csv")}


def test_csv_named_columns():
    rec, _, _ = read_all(DATA / "bad_rows.csv", smiles_column="SMILES", id_column="Name")
    assert rec["id"].tolist() == ["a", "f"]
    assert "Name" not in rec.columns


def test_csv_missing_named_column_lists_columns():
    with pytest.raises(InputError, match=r"no column 'smi_x' \(columns: Name, SMILES, score\)"):
        read_all(DATA / "bad_rows.csv", smiles_column="smi_x")
    with pytest.raises(InputError, match="no id column 'nope'"):
        read_all(DATA / "bad_rows.csv", id_column="nope")


def test_csv_without_smiles_column_is_an_input_error():
    with pytest.raises(InputError) as err:
        read_all(DATA / "no_smiles_column.csv")
    message = str(err.value)
    assert "no_smiles_column.csv" in message and "columns: name, structure" in message
    assert "\n" not in message


def test_tsv_canonical_smiles_and_reserved_names():
    rec, _rej, _ = read_all(DATA / "canonical.tsv")
    assert rec["smiles"].tolist() == ["CCO", "CCN"]
    # a file column called "source" must not overwrite the pipeline's source column
    assert rec["source_input"].tolist() == ["vendor", "vendor"]
    assert set(rec["source"]) == {str(DATA / "canonical.tsv")}
    assert rec["id"].tolist() == ["canonical:2", "canonical:3"]


@pytest.mark.parametrize("name", ["empty.smi", "empty.csv", "header_only.csv"])
def test_empty_files_have_no_records(name):
    assert read_all(DATA / name)[2] == 0
    assert count_records(DATA / name) == 0


def test_binary_junk_is_rejected_not_raised():
    rec, rej, n = read_all(DATA / "binary_junk.smi")
    assert n == len(rej) > 0 and rec.empty
    assert set(rej["reason"]) <= {"binary data (NUL byte)", "undecodable bytes (not UTF-8 text)"}
    assert (rej["input"].str.len() <= 200).all()


def test_mixed_bytes_keep_good_lines():
    rec, rej, _ = read_all(DATA / "mixed_bytes.smi")
    assert rec["id"].tolist() == ["good1", "good2"]
    assert rej[["row", "reason"]].values.tolist() == [
        [2, "undecodable bytes (not UTF-8 text)"],
        [3, "binary data (NUL byte)"],
    ]
    assert rej["input"].iloc[0] == "\\xff\\xfe\\xfa bad-bytes"


def test_gzip_csv():
    rec, _, _ = read_all(DATA / "small.csv.gz")
    assert rec["id"].tolist() == ["g1", "g2", "g3"]
    assert count_records(DATA / "small.csv.gz") == 3


def test_gzip_detected_by_content(tmp_path):
    plain_name = tmp_path / "hidden_gzip.csv"
    shutil.copy(DATA / "small.csv.gz", plain_name)
    assert read_all(plain_name)[2] == 3


def test_not_gzip_is_an_input_error():
    with pytest.raises(InputError, match=r"not_gzip\.smi\.gz: not a gzip file"):
        read_all(DATA / "not_gzip.smi.gz")


def test_truncated_gzip_is_an_input_error(tmp_path):
    data = gzip.compress(b"smiles\n" + b"CCO\n" * 50_000)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: corrupt compressed data"):
        read_all(path)


def test_sdf_properties_and_titles():
    rec, rej, _ = read_all(DATA / "props.sdf")
    assert rej.empty
    assert rec[["row", "id", "smiles", "ID", "mw"]].values.tolist() == [
        [1, "ethanol", "CCO", "E1", "46.07"],
        [2, "benzene", "c1ccccc1", "B1", "78.11"],
    ]
    assert rec["note"].iloc[0] == "first line\nsecond line"
    assert pd.isna(rec["note"].iloc[1])
    assert count_records(DATA / "props.sdf") == 2


def test_sdf_id_from_property():
    rec, _, _ = read_all(DATA / "props.sdf", id_column="ID")
    assert rec["id"].tolist() == ["E1", "B1"] and "ID" not in rec.columns


def test_sdf_unparseable_record_has_rdkit_reason(capfd):
    rec, rej, n = read_all(DATA / "bad_record.sdf")
    assert n == 3 and rec["row"].tolist() == [1, 3]
    assert rej["row"].tolist() == [2] and rej["id"].tolist() == ["bad_valence"]
    assert rej["reason"].iloc[0].startswith("sdf_error: ")
    assert "valence" in rej["reason"].iloc[0].lower()
    assert "valence" not in capfd.readouterr().err  # RDKit's log is captured, not sprayed


def test_sdf_reason_quotes_rdkit_when_other_code_silenced_its_log():
    """Other code in the process calls RDLogger.DisableLog("rdApp.*") (a library, a
    worker function run in-process): the reject reason must still say why."""
    from rdkit import RDLogger, rdBase

    read_all(DATA / "bad_record.sdf")  # our log routing is installed first, as in a long run
    RDLogger.DisableLog("rdApp.*")
    try:
        _, rej, _ = read_all(DATA / "bad_record.sdf")
    finally:
        rdBase.EnableLog("rdApp.error")
        rdBase.EnableLog("rdApp.warning")
    assert "valence" in rej["reason"].iloc[0].lower()


def test_sdf_truncated_last_record_is_rejected():
    rec, rej, n = read_all(DATA / "truncated.sdf")
    assert n == 2 and rec["smiles"].tolist() == ["CCO"]
    assert rej[["row", "reason"]].values.tolist() == [[2, "truncated record (no M  END)"]]
    assert count_records(DATA / "truncated.sdf") == 2


def test_parquet_directory_skips_hidden_files():
    rec, rej, n = read_all(DATA / "parquet_dir", chunk_size=3)
    assert n == 6
    assert rec[["row", "id", "smiles"]].values.tolist() == [
        [1, "p1", "CCO"],
        [2, "p2", "CCN"],
        [4, "part-0:4", "c1ccccc1"],
        [1, "p5", "CCC"],
    ]
    assert rec["mw"].dtype == "float64"  # Parquet columns keep their types
    assert rej[["row", "reason"]].values.tolist() == [[3, "empty SMILES"], [2, "empty SMILES"]]
    assert rec["source"].str.endswith("part-0.parquet").sum() == 3
    assert count_records(DATA / "parquet_dir") == 6


def test_parquet_reads_batches_not_whole_file(tmp_path):
    path = tmp_path / "big.parquet"
    table = pa.table({"smiles": ["C" * (1 + i % 7) for i in range(10_000)]})
    pq.write_table(table, path, row_group_size=1_000)
    sizes = [c.n_read for c in read_library(path, chunk_size=256)]
    assert max(sizes) == 256 and sum(sizes) == 10_000


def test_parquet_gz_and_junk(tmp_path):
    src = DATA / "parquet_dir" / "part-1.parquet"
    gz = tmp_path / "p.parquet.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert read_all(gz)[2] == 2
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match=r"junk\.parquet: not a readable Parquet file"):
        read_all(junk)


def test_parquet_non_text_smiles_column(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"smiles": [1, 2]}), path)
    with pytest.raises(InputError, match="holds int64, not text"):
        read_all(path)


def test_chunks_have_exact_size_and_order():
    _rec, _rej, _n = read_all(DATA / "bad_rows.csv", chunk_size=2)
    sizes = [c.n_read for c in read_library(DATA / "bad_rows.csv", chunk_size=2)]
    assert sizes == [2, 2, 2]
    rows = [
        r
        for c in read_library(DATA / "bad_rows.csv", chunk_size=2)
        for r in sorted([*c.records["row"], *c.rejects["row"]])
    ]
    assert rows == sorted(rows)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.smi", "smi"),
        ("a.SMILES.gz", "smi"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.sdf.gz", "sdf"),
        ("a.sd", "sdf"),
        ("a.parquet", "parquet"),
    ],
)
def test_detect_format(tmp_path, name, fmt):
    path = tmp_path / name
    path.write_bytes(b"")
    assert detect_format(path) == fmt


def test_whole_file_problems_are_one_line_input_errors(tmp_path):
    (tmp_path / "x.xyz").write_text("CCO\n")
    (tmp_path / "nopq").mkdir()
    (tmp_path / "nopq" / "a.csv").write_text("smiles\nC\n")
    cases = [
        (tmp_path / "missing.smi", "file not found"),
        (tmp_path / "x.xyz", "unknown format"),
        (tmp_path / "nopq", "directory contains no .parquet files"),
    ]
    for path, reason in cases:
        with pytest.raises(InputError) as err:
            read_all(path)
        assert str(err.value).startswith(str(path)) and reason in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown format 'xls'"):
        read_all(DATA / "small.csv.gz", fmt="xls")
    with pytest.raises(InputError, match="chunk_size"):
        read_all(DATA / "small.csv.gz", chunk_size=0)


def test_fmt_overrides_extension(tmp_path):
    path = tmp_path / "library.txt"
    path.write_text("CCO one\nCCN two\n")
    assert read_all(path, fmt="smi")[0]["id"].tolist() == ["one", "two"]


@pytest.mark.parametrize(
    "name",
    [
        "ids_comments.smi",
        "wide.smi",
        "mixed_bytes.smi",
        "binary_junk.smi",
        "bad_rows.csv",
        "quoted.csv",
        "canonical.tsv",
        "small.csv.gz",
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 3, 10_000])
def test_fast_path_equals_exact_path(monkeypatch, name, chunk_size):
    fast = read_all(DATA / name, chunk_size=chunk_size)
    monkeypatch.setattr(text_reader, "FAST_PATH", False)
    slow = read_all(DATA / name, chunk_size=chunk_size)
    pd.testing.assert_frame_equal(fast[0], slow[0])
    pd.testing.assert_frame_equal(fast[1], slow[1])


def test_moses_block_boundaries_fast_equals_exact(monkeypatch, tmp_path):
    # 20k real lines cross many 64 KiB blocks; both paths must agree row for row
    path = tmp_path / "moses_head.csv"
    with gzip.open("libraries/moses/test.csv.gz", "rt") as fh:
        path.write_text("".join(next(fh) for _ in range(20_001)))
    fast = read_all(path, chunk_size=777)
    monkeypatch.setattr(text_reader, "FAST_PATH", False)
    slow = read_all(path, chunk_size=777)
    assert fast[2] == 20_000
    pd.testing.assert_frame_equal(fast[0], slow[0])
