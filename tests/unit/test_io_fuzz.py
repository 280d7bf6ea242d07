"""Invariants over arbitrary input: no reader crashes, counts always add up.

Arbitrary text and arbitrary bytes are written under every supported
extension. Only ``InputError`` may escape (a whole-file problem); every row
read is accepted or rejected with a non-empty reason; the vectorised text path
gives exactly what the per-line path gives.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molspace.errors import InputError
from molspace.io import read_library
from molspace.io import text as text_reader

EXTENSIONS = (".smi", ".csv", ".tsv", ".sdf", ".parquet", ".smi.gz", ".csv.gz", ".sdf.gz")
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# text that looks enough like our formats to reach deep code paths
line_parts = st.sampled_from(
    [
        "CCO",
        "c1ccccc1",
        "smiles",
        "SMILES,id",
        "id",
        ",",
        "\t",
        " ",
        '"',
        '""',
        "#",
        "$$$$",
        "M  END",
        ">  <mw>",
        "\r\n",
        "\r",
        "\n",
        "\n\n",
        "\x00",
        "\xa0",
        "é",
        "C#N",
        "\ufeff",
    ]
)
texty = st.lists(st.one_of(line_parts, st.text(max_size=8)), max_size=40).map("".join)


def read_everything(path: Path, chunk_size: int) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """All records and rejects, or None when the file as a whole is refused."""
    records, rejects = [], []
    try:
        for chunk in read_library(path, chunk_size=chunk_size):
            assert chunk.n_read == len(chunk.records) + len(chunk.rejects)
            assert 0 < chunk.n_read <= chunk_size
            assert (chunk.rejects["reason"].str.len() > 0).all()
            assert (chunk.records["smiles"].str.len() > 0).all()
            assert (chunk.records["id"].str.len() > 0).all()
            assert chunk.records["row"].min() >= 1 if len(chunk.records) else True
            records.append(chunk.records)
            rejects.append(chunk.rejects)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message
        assert str(path) in message
        return None
    rec = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    rej = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
    if len(rec) or len(rej):
        keys = pd.concat([rec.get("row", pd.Series()), rej.get("row", pd.Series())])
        assert not keys.duplicated().any()
    # every value is storable text (no lone surrogates): Parquet/CSV output must not fail
    for frame in (rec, rej):
        for column in frame.columns:
            if frame[column].dtype == "str":
                "".join(frame[column].dropna()).encode("utf-8")
    return rec, rej


def write(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


@FUZZ
@given(content=texty, ext=st.sampled_from(EXTENSIONS), chunk_size=st.integers(1, 7))
def test_arbitrary_text_never_crashes(content, ext, chunk_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{ext}"
        write(path, content.encode("utf-8", "surrogatepass"))
        read_everything(path, chunk_size)


@FUZZ
@given(content=st.binary(max_size=300), ext=st.sampled_from(EXTENSIONS))
def test_arbitrary_bytes_never_crash(content, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{ext}"
        path.write_bytes(content)  # not compressed even for .gz: must be refused cleanly
        read_everything(path, 5)
        write(path, content)
        read_everything(path, 5)


@FUZZ
@given(
    content=st.one_of(texty, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
    ext=st.sampled_from([".smi", ".csv", ".tsv"]),
    chunk_size=st.integers(1, 5),
)
def test_fast_path_equals_exact_path(content, ext, chunk_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{ext}"
        write(path, content.encode("utf-8", "surrogatepass"))
        fast = read_everything(path, chunk_size)
        text_reader.FAST_PATH = False
        try:
            slow = read_everything(path, chunk_size)
        finally:
            text_reader.FAST_PATH = True
        assert (fast is None) == (slow is None)
        if fast is not None and slow is not None:
            pd.testing.assert_frame_equal(fast[0], slow[0])
            pd.testing.assert_frame_equal(fast[1], slow[1])


@FUZZ
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=10)), max_size=30),
    chunk_size=st.integers(1, 8),
)
def test_parquet_arbitrary_smiles_cells(values, chunk_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.parquet"
        clean = [v.encode("utf-8", "replace").decode("utf-8") if v else v for v in values]
        pq.write_table(pa.table({"smiles": pa.array(clean, pa.string())}), path)
        result = read_everything(path, chunk_size)
        assert result is not None
        rec, rej = result
        assert len(rec) + len(rej) == len(values)
        ws = " \t\r\x0b\x0c"
        kept = [v.strip(ws) for v in clean if v and v.strip(ws) and "\x00" not in v]
        assert (rec["smiles"].tolist() if len(rec) else []) == kept
