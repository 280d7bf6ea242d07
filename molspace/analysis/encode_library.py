"""Encode a large library into latent vectors, one partition at a time, resumably.

The core (``encode_records``) is a pure table-in/table-out function. The driver
streams ``read_library`` chunks and either runs it in-process or submits each
chunk to a Dask client; a worker loads the model once per process and writes its
partition itself (atomically), so latent vectors never travel back through the
scheduler. A killed run resumes by skipping partitions whose two files exist.

Layout of ``out_dir``::

    latent/part-00000.parquet   source, row, id, smiles, z (fixed_size_list<float32>[d])
    rejects/part-00000.parquet  source, row, id, input, reason
    rejects.csv                 every reject (reader + encoder), merged at the end
    manifest.json               counts, latent_dim, model, versions
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from molspace.analysis.common import encode_with_reasons, write_json
from molspace.errors import InputError

__all__ = ["encode_library", "encode_records", "read_latent"]

_REJECT_COLUMNS = ["source", "row", "id", "input", "reason"]
_SPACES: dict[str, Any] = {}


def _load_space(model: str | None) -> Any:
    """One LatentSpace per process and model path (workers reuse it across partitions)."""
    key = str(model) if model is not None else ""
    if key not in _SPACES:
        from molspace.latent import LatentSpace

        _SPACES[key] = LatentSpace.load(model)
    return _SPACES[key]


def encode_records(
    space: Any, records: pd.DataFrame, batch_size: int = 512
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Encode ``records`` (source,row,id,smiles): (encoded rows, their z, rejects with reasons).

    Every input row ends in exactly one of the two tables.
    """
    smiles = records["smiles"].astype(str).tolist()
    z, reasons = encode_with_reasons(space, smiles, batch_size=batch_size)
    ok = np.array([r is None for r in reasons], dtype=bool)
    keep = [c for c in ("source", "row", "id", "smiles") if c in records.columns]
    encoded = records.loc[ok, keep].reset_index(drop=True)
    bad = records.loc[~ok]
    rejects = pd.DataFrame(
        {
            "source": bad["source"].astype(str).to_numpy() if "source" in bad else "",
            "row": bad["row"].astype("int64").to_numpy() if "row" in bad else 0,
            "id": bad["id"].astype(str).to_numpy() if "id" in bad else "",
            "input": bad["smiles"].astype(str).to_numpy(),
            "reason": [r for r in reasons if r is not None],
        },
        columns=_REJECT_COLUMNS,
    )
    return encoded, z[ok].astype(np.float32), rejects


def _latent_table(encoded: pd.DataFrame, z: np.ndarray) -> pa.Table:
    dim = z.shape[1]
    flat = pa.array(np.ascontiguousarray(z, dtype=np.float32).ravel(), type=pa.float32())
    column = pa.FixedSizeListArray.from_arrays(flat, dim)
    table = pa.Table.from_pandas(encoded, preserve_index=False)
    return table.append_column("z", column)


def _write_parquet(table: pa.Table, path: Path) -> None:
    from molspace.io import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _part_paths(out_dir: Path, index: int) -> tuple[Path, Path]:
    name = f"part-{index:05d}.parquet"
    return out_dir / "latent" / name, out_dir / "rejects" / name


def encode_partition(
    records: pd.DataFrame,
    reader_rejects: pd.DataFrame,
    index: int,
    out_dir: str,
    model: str | None,
    batch_size: int = 512,
) -> dict[str, int]:
    """Encode one chunk and write its two files; runs in-process or on a Dask worker."""
    space = _load_space(model)
    encoded, z, rejects = (
        encode_records(space, records, batch_size)
        if len(records)
        else (
            records.iloc[:0],
            np.zeros((0, space.latent_dim), np.float32),
            pd.DataFrame(columns=_REJECT_COLUMNS),
        )
    )
    all_rejects = pd.concat(
        [reader_rejects.reindex(columns=_REJECT_COLUMNS), rejects], ignore_index=True
    ).astype({"source": str, "id": str, "input": str, "reason": str, "row": "int64"})
    latent_path, rejects_path = _part_paths(Path(out_dir), index)
    _write_parquet(pa.Table.from_pandas(all_rejects, preserve_index=False), rejects_path)
    # written last: its presence marks the partition finished
    _write_parquet(_latent_table(encoded, z), latent_path)
    return {
        "index": index,
        "n_read": len(records) + len(reader_rejects),
        "n_encoded": len(encoded),
        "n_rejected": len(all_rejects),
    }


def _finished(out_dir: Path, index: int) -> dict[str, int] | None:
    latent_path, rejects_path = _part_paths(out_dir, index)
    if not (latent_path.exists() and rejects_path.exists()):
        return None
    n_ok = pq.ParquetFile(latent_path).metadata.num_rows
    n_bad = pq.ParquetFile(rejects_path).metadata.num_rows
    return {
        "index": index,
        "n_read": n_ok + n_bad,
        "n_encoded": n_ok,
        "n_rejected": n_bad,
        "resumed": 1,
    }


def _bounded(client: Any, calls: Iterator[tuple[Any, ...]], limit: int) -> Iterator[dict]:
    """Submit calls keeping at most ``limit`` in flight; yield results as they complete."""
    from distributed import as_completed

    pending = as_completed()
    in_flight = 0
    for args in calls:
        pending.add(client.submit(encode_partition, *args, pure=False))
        in_flight += 1
        if in_flight >= limit:
            yield next(pending).result()
            in_flight -= 1
    for future in pending:
        yield future.result()


def encode_library(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    client: Any = None,
    chunk_size: int = 10_000,
    smiles_column: str | None = None,
    id_column: str | None = None,
    batch_size: int = 512,
) -> dict[str, Any]:
    """Encode every record of ``path`` into ``out_dir`` (see module doc); returns the manifest.

    ``client`` is a ``distributed.Client`` (partitions run on its workers) or None
    (in-process). Counts add up: n_read == n_encoded + n_rejected.
    """
    from molspace.io import read_library
    from molspace.versions import versions

    out = Path(out_dir)
    model_path = str(Path(model).resolve()) if model is not None else None
    space = _load_space(model_path)  # fail fast on a bad bundle, before any work
    (out / "latent").mkdir(parents=True, exist_ok=True)
    (out / "rejects").mkdir(parents=True, exist_ok=True)
    resumed: list[dict[str, int]] = []

    def calls() -> Iterator[tuple[Any, ...]]:
        chunks = read_library(
            path, chunk_size=chunk_size, smiles_column=smiles_column, id_column=id_column
        )
        for index, chunk in enumerate(chunks):
            done = _finished(out, index)
            if done is not None:
                resumed.append(done)
                continue
            yield (chunk.records, chunk.rejects, index, str(out), model_path, batch_size)

    if client is None:
        fresh = [encode_partition(*args) for args in calls()]
    else:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        fresh = list(_bounded(client, calls(), limit=2 * workers))
    results = resumed + fresh
    results.sort(key=lambda r: r["index"])
    rejects = [pd.read_parquet(_part_paths(out, r["index"])[1]) for r in results]
    merged = (
        pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=_REJECT_COLUMNS)
    )
    from molspace.io import write_table

    write_table(merged.reindex(columns=_REJECT_COLUMNS), out / "rejects.csv")
    manifest = {
        "input": str(path),
        "model": model_path or "default",
        "latent_dim": int(space.latent_dim),
        "n_partitions": len(results),
        "n_read": sum(r["n_read"] for r in results),
        "n_encoded": sum(r["n_encoded"] for r in results),
        "n_rejected": sum(r["n_rejected"] for r in results),
        "n_resumed_partitions": sum(r.get("resumed", 0) for r in results),
        "layout": "latent/part-*.parquet: source,row,id,smiles,z (fixed_size_list<float32>)",
        "versions": versions(),
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def read_latent(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read an ``encode_library`` output (directory or one part) back as (records, Z)."""
    target = Path(path)
    files = sorted((target / "latent").glob("part-*.parquet")) if target.is_dir() else [target]
    if target.is_dir() and not files:
        files = sorted(target.glob("part-*.parquet"))
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"{target}: no encoded latent vectors found (run encode first)")
    frames, blocks = [], []
    for file in files:
        table = pq.read_table(file)
        if "z" not in table.column_names:
            raise InputError(f"{file}: not a latent table (no 'z' column)")
        z_col = table.column("z").combine_chunks()
        dim = z_col.type.list_size
        blocks.append(z_col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim))
        keep = [c for c in table.column_names if c != "z" and (columns is None or c in columns)]
        frames.append(table.select(keep).to_pandas())
    manifest = target / "manifest.json"
    records = pd.concat(frames, ignore_index=True)
    if manifest.is_file():
        records.attrs["manifest"] = json.loads(manifest.read_text(encoding="utf-8"))
    return records, np.vstack(blocks).astype(np.float64)
