"""Streaming Parquet reader: a file or a directory of files, one record batch at a time.

Never loads a whole file: ``pyarrow.parquet.ParquetFile.iter_batches`` reads
row groups incrementally and hands out ``chunk_size`` rows at a time. Extra
columns keep their Arrow types; the SMILES and id columns become text.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from molspace.errors import InputError
from molspace.io.chunk import WS, ReadChunk, Rejects, printable
from molspace.io.columns import ColumnPlan, plan_columns
from molspace.io.formats import GZIP_ERRORS, file_stem, is_gzip_name, parquet_files

__all__ = ["count_parquet", "read_parquet"]


def _open(path: Path, source: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: not a readable Parquet file: {exc}") from None


def count_parquet(path: Path) -> int:
    """Rows in a Parquet file or directory, from the footers only."""
    files = parquet_files(path) if path.is_dir() else [path]
    return sum(_open(f, str(f)).metadata.num_rows for f in files)


def read_parquet(
    path: Path,
    source: str,
    *,
    chunk_size: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[ReadChunk]:
    """Read a Parquet file, or every ``*.parquet`` under a directory in name order.

    ``source`` is the individual file and ``row`` the 1-based row within it.
    A ``.parquet.gz`` is decompressed to a temporary file first (Parquet needs
    random access). A null/empty SMILES or a binary SMILES that is not UTF-8 is
    rejected; a file that is not Parquet is an ``InputError``.
    """
    if path.is_dir():
        for file in parquet_files(path):
            yield from _read_file(file, str(file), chunk_size, smiles_column, id_column)
        return
    if is_gzip_name(path):
        with tempfile.TemporaryDirectory(prefix="molspace-pq-") as tmp:
            plain = Path(tmp) / file_stem(path)
            try:
                with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (*GZIP_ERRORS, OSError) as exc:
                raise InputError(f"{source}: not a readable gzip file: {exc}") from None
            yield from _read_file(plain, source, chunk_size, smiles_column, id_column)
        return
    yield from _read_file(path, source, chunk_size, smiles_column, id_column)


def _as_text(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """A column as Python strings (None for null); binary is decoded with surrogates."""
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return [
            None if v is None else v.decode("utf-8", "surrogateescape") for v in column.to_pylist()
        ]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column.to_pylist()


def _read_file(
    path: Path,
    source: str,
    chunk_size: int,
    smiles_column: str | None,
    id_column: str | None,
) -> Iterator[ReadChunk]:
    handle = _open(path, source)
    names = list(handle.schema_arrow.names)
    plan: ColumnPlan = plan_columns(source, names, smiles_column, id_column)
    smiles_type = handle.schema_arrow.field(plan.smiles).type
    if not (
        pa.types.is_string(smiles_type)
        or pa.types.is_large_string(smiles_type)
        or pa.types.is_binary(smiles_type)
        or pa.types.is_large_binary(smiles_type)
        or pa.types.is_dictionary(smiles_type)
    ):
        raise InputError(
            f"{source}: SMILES column {names[plan.smiles]!r} holds {smiles_type}, not text"
        )
    stem = file_stem(path if source == str(path) else Path(source))
    first = 1
    try:
        for batch in handle.iter_batches(batch_size=chunk_size, use_threads=False):
            yield _chunk(batch, plan, source, stem, first)
            first += batch.num_rows
    except pa.ArrowException as exc:
        raise InputError(f"{source}: corrupt Parquet data after row {first - 1}: {exc}") from None


def _chunk(
    batch: pa.RecordBatch, plan: ColumnPlan, source: str, stem: str, first: int
) -> ReadChunk:
    n = batch.num_rows
    rows = np.arange(first, first + n, dtype=np.int64)
    smiles_col = batch.column(plan.smiles)
    if pa.types.is_dictionary(smiles_col.type):
        smiles_col = smiles_col.dictionary_decode()
    smiles = [None if s is None else s.strip(WS) for s in _as_text(smiles_col)]
    if plan.id is not None:
        raw_ids = _as_text(batch.column(plan.id))
        ids = [
            i.strip(WS) if i is not None and i.strip(WS) else f"{stem}:{r}"
            for i, r in zip(raw_ids, rows.tolist(), strict=True)
        ]
    else:
        ids = [f"{stem}:{r}" for r in rows.tolist()]

    rejects = Rejects()
    bad = np.zeros(n, dtype=bool)
    for i, s in enumerate(smiles):
        reason = None
        if not s:
            reason = "empty SMILES"
        elif "\x00" in s:
            reason = "binary data (NUL byte)"
        elif not s.isascii():
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                reason = "undecodable bytes (not UTF-8 text)"
        if reason is None:
            try:
                ids[i].encode("utf-8")
            except UnicodeEncodeError:
                reason = "undecodable bytes in id (not UTF-8 text)"
        if reason is not None:
            bad[i] = True
            rejects.add(int(rows[i]), ids[i], printable(s or ""), reason)

    keep = ~bad
    data: dict[str, object] = {
        "source": pd.Series([source] * int(keep.sum()), dtype="str"),
        "row": rows[keep],
        "id": pd.Series([i for i, k in zip(ids, keep, strict=True) if k], dtype="str"),
        "smiles": pd.Series([s for s, k in zip(smiles, keep, strict=True) if k], dtype="str"),
    }
    if plan.extra:
        mask = pa.array(keep)
        for index, name in plan.extra:
            column = batch.column(index)
            if bad.any():
                column = column.filter(mask)
            data[name] = column.to_pandas()
    return ReadChunk(records=pd.DataFrame(data), rejects=rejects.frame(source))
