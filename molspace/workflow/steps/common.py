"""Small helpers the step adapters share."""

from __future__ import annotations

from pathlib import Path

from molspace.errors import InputError

__all__ = ["head_of_library"]


def head_of_library(path: str, limit: int, out_dir: Path, **read_options: object) -> Path:
    """The first ``limit`` records of a library, written once to Parquet for quick runs.

    Rejected rows count toward the limit and are kept (as raw text), so the
    screen downstream still accounts for every row it was given.
    """
    import pandas as pd

    from molspace.io import read_library, write_table

    target = out_dir / f"head-{limit}-{Path(path).name.split('.')[0]}.parquet"
    if target.exists():
        return target
    frames: list[pd.DataFrame] = []
    taken = 0
    for chunk in read_library(path, chunk_size=min(limit, 10_000), **read_options):  # type: ignore[arg-type]
        records = chunk.records[["row", "id", "smiles"]]
        rejects = chunk.rejects.rename(columns={"input": "smiles"})[["row", "id", "smiles"]]
        frame = pd.concat([records, rejects]).sort_values("row", kind="stable")
        frames.append(frame)
        taken += len(frame)
        if taken >= limit:
            break
    if not frames:
        raise InputError(f"{path}: no records to take")
    table = pd.concat(frames, ignore_index=True).head(limit).drop(columns="row")
    table["smiles"] = table["smiles"].astype(str)
    table["id"] = table["id"].astype(str)
    write_table(table, target)
    return target
