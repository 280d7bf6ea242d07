"""``dock``: every molecule of one or more libraries against one target, on Dask, resumable.

The library streams in chunks (``molspace.io.read_library``); each chunk is docked
by :func:`molspace.docking.core.dock_table` in a Dask task (or in this process
with ``workers=0``) and written atomically as ``parts/part-NNNNNN.parquet``,
reader rejects included, so every row read is in exactly one part. ``run.json``
holds the run's key (target, settings, chunk size, inputs): a re-run with the same
key skips the parts on disk, a different key is refused unless ``force``. Once
every part is there, the finishing pass writes

* ``results.parquet``: one row per molecule read, input order, without the poses;
* ``rejects.csv``: ``source,row,id,input,reason`` for every rejected row;
* ``poses.sdf.gz``: first the best pose of each docked molecule (input order), then
  their other poses; SD tags ``id``, ``pose`` (1 = best), ``score`` (kcal/mol);
* ``summary.json``: counts (they add up), reasons, best molecules, timings.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.docking.core import DOCK_COLUMNS, dock_table
from molspace.docking.resume import open_run
from molspace.docking.settings import DockingSettings, require_docking_packages
from molspace.docking.target import TargetBundle, resolve_target
from molspace.errors import InputError
from molspace.interrupt import Interrupted, stop_requested
from molspace.io.writers import remove_outputs

__all__ = ["DockResult", "dock", "dock_partition"]

SCHEMA = 1
OUTPUTS = ("parts", "run.json", "results.parquet", "rejects.csv", "poses.sdf.gz", "summary.json")
SD_END = "$$$$\n"


@dataclass(frozen=True)
class DockResult:
    """Where a docking run wrote its outputs, and its summary."""

    out_dir: Path
    summary: dict[str, Any]

    @property
    def results_path(self) -> Path:
        return self.out_dir / "results.parquet"

    @property
    def rejects_path(self) -> Path:
        return self.out_dir / "rejects.csv"

    @property
    def poses_path(self) -> Path:
        return self.out_dir / "poses.sdf.gz"

    def results(self) -> pd.DataFrame:
        return pd.read_parquet(self.results_path)


@dataclass(frozen=True)
class _Chunk:
    index: int
    records: pd.DataFrame
    rejects: pd.DataFrame


def dock_partition(
    records: pd.DataFrame, rejects: pd.DataFrame, target: TargetBundle, settings_json: str
) -> tuple[pd.DataFrame, float]:
    """Dock one chunk and append its reader rejects: the table written as one part."""
    started = time.perf_counter()
    settings = DockingSettings.model_validate_json(settings_json)
    docked = dock_table(records, target, settings) if len(records) else None
    bad = rejects.rename(columns={"input": "smiles"}).assign(status="rejected")
    frames = [f for f in (docked, bad) if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=["source", "row", "id", "smiles", *DOCK_COLUMNS]), 0.0
    table = pd.concat(frames, ignore_index=True).sort_values("row", kind="stable")
    return table.reset_index(drop=True), time.perf_counter() - started


def _run_key(target: TargetBundle, settings: DockingSettings, chunk: int, paths: list[Path]) -> str:
    inputs = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    text = json.dumps([SCHEMA, target.key, settings.model_dump(), chunk, inputs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _chunks(
    paths: Sequence[Path], chunk_size: int, smiles_column: str | None, id_column: str | None
) -> Iterator[_Chunk]:
    from molspace.io import read_library

    index = 0
    for path in paths:
        for chunk in read_library(
            path, chunk_size=chunk_size, smiles_column=smiles_column, id_column=id_column
        ):
            if chunk.n_read:
                yield _Chunk(index, chunk.records, chunk.rejects)
                index += 1


def _part_path(out: Path, index: int) -> Path:
    return out / "parts" / f"part-{index:06d}.parquet"


def dock(
    library: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str] | TargetBundle,
    out: str | os.PathLike[str],
    *,
    settings: DockingSettings | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    chunk_size: int = 8,
    smiles_column: str | None = None,
    id_column: str | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> DockResult:
    """Dock every molecule of ``library`` against ``target`` (a shipped PDB code or a bundle).

    ``workers=0`` docks in this process; otherwise a LocalCluster of ``workers``
    processes (default: the cores) is started, or ``scheduler``/``client`` joined.
    Small chunks keep the workers evenly loaded: one molecule takes seconds.
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    require_docking_packages()
    settings = settings or DockingSettings()
    bundle = resolve_target(target)
    paths = [Path(p) for p in ([library] if isinstance(library, (str, os.PathLike)) else library)]
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = _run_key(bundle, settings, chunk_size, paths)
    describe = {
        "target": bundle.name,
        "target_key": bundle.key,
        "settings": settings.model_dump(),
        "chunk_size": chunk_size,
        "inputs": [str(p) for p in paths],
    }
    if force:
        remove_outputs(out_dir, OUTPUTS)
    conflict = f"{out_dir}: holds a docking run with another target, settings or inputs"
    open_run(out_dir, key, describe, conflict)
    started = time.perf_counter()
    todo = (
        c
        for c in _chunks(paths, chunk_size, smiles_column, id_column)
        if not _part_path(out_dir, c.index).exists()
    )
    info = _execute(todo, bundle, settings, out_dir, workers, scheduler, client, log)
    info["wall_seconds"] = round(time.perf_counter() - started, 3)
    summary = _finalize(out_dir, bundle, settings, info)
    return DockResult(out_dir, summary)


def _save(out: Path, chunk: _Chunk, table: pd.DataFrame) -> None:
    from molspace.io import write_table

    if len(table) != len(chunk.records) + len(chunk.rejects):  # the accounting invariant
        raise AssertionError(f"chunk {chunk.index}: {len(table)} rows for {len(chunk.records)}")
    write_table(table, _part_path(out, chunk.index))


def _execute(
    todo: Iterator[_Chunk],
    bundle: TargetBundle,
    settings: DockingSettings,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    client: Any,
    log: Callable[[str], None] | None,
) -> dict[str, Any]:
    settings_json = settings.model_dump_json()
    info: dict[str, Any] = {"executor": "in-process", "workers": 1, "parts_computed": 0}
    compute = 0.0
    if workers == 0 and client is None and scheduler is None:
        try:
            for chunk in todo:
                table, seconds = dock_partition(chunk.records, chunk.rejects, bundle, settings_json)
                _save(out, chunk, table)
                info["parts_computed"] += 1
                compute += seconds
                if stop_requested():
                    raise Interrupted(f"docking stopped after {info['parts_computed']} part(s)")
        finally:
            from molspace.docking.core import close_engines

            close_engines()
        info["compute_seconds"] = round(compute, 3)
        return info
    from distributed import as_completed

    from molspace.cluster import connect

    with ExitStack() as stack:
        pending: dict[str, _Chunk] = {}
        queue: Any = None
        shared: Any = None
        limit = 1
        for chunk in todo:
            if queue is None:  # start (or join) a cluster only when there is work
                if client is None:
                    handle = stack.enter_context(connect(scheduler=scheduler, workers=workers))
                    client = handle.client
                    info.update(executor=handle.description, workers=handle.n_workers)
                else:
                    n = max(1, len(client.scheduler_info().get("workers", {})))
                    info.update(executor=f"client of {client.scheduler.address}", workers=n)
                if log is not None:
                    log(f"{info['executor']}; dashboard: {client.dashboard_link}")
                shared = client.scatter(bundle, broadcast=True, hash=False)
                queue = as_completed()
                # one chunk in flight per worker thread: a molecule takes seconds, so the
                # round trip of handing out the next chunk costs nothing, and a worker
                # never holds a queued chunk that an idle one could have docked (the tail
                # of a run balances like a pool's imap_unordered)
                limit = max(info["workers"], _worker_threads(client))
            future = client.submit(
                dock_partition,
                chunk.records,
                chunk.rejects,
                shared,
                settings_json,
                key=f"molspace-dock-{bundle.key}-{chunk.index}-{os.getpid()}",
                pure=False,
                retries=1,
            )
            pending[future.key] = chunk
            queue.add(future)
            while queue.count() >= limit:
                compute += _collect(next(queue), pending, out, info)
            if stop_requested():
                break
        while queue is not None and queue.count():
            compute += _collect(next(queue), pending, out, info)
    info["compute_seconds"] = round(compute, 3)
    if stop_requested():
        raise Interrupted(f"docking stopped after {info['parts_computed']} new part(s)")
    return info


def _worker_threads(client: Any) -> int:
    """Threads of the workers connected now (0 while none has joined)."""
    workers = client.scheduler_info().get("workers", {})
    return int(sum(w.get("nthreads", 1) for w in workers.values()))


def _collect(future: Any, pending: dict[str, _Chunk], out: Path, info: dict[str, Any]) -> float:
    chunk = pending.pop(future.key)
    table, seconds = future.result()
    future.release()
    _save(out, chunk, table)
    info["parts_computed"] += 1
    return float(seconds)


def _split_sdf(text: str) -> list[str]:
    return [block + SD_END for block in text.split(SD_END) if block.strip()]


def _finalize(
    out: Path, bundle: TargetBundle, settings: DockingSettings, info: dict[str, Any]
) -> dict[str, Any]:
    """Results, rejects, poses and summary from the parts, streaming in input order."""
    from molspace.io import RejectsWriter, atomic_path, write_table

    parts = sorted((out / "parts").glob("part-*.parquet"))
    reasons: Counter[str] = Counter()
    results: list[pd.DataFrame] = []
    rows_in = docked = 0
    with atomic_path(out / "rejects.csv") as rejects_tmp, RejectsWriter(rejects_tmp) as rejects:
        for part in parts:
            table = pd.read_parquet(part)
            rows_in += len(table)
            ok = table["status"] == "ok"
            docked += int(ok.sum())
            bad = table.loc[~ok]
            rejects.write(bad[["source", "row", "id", "smiles", "reason"]])
            reasons.update(str(r).split(":", 1)[0] for r in bad["reason"])
            results.append(table.drop(columns=["poses"]))
    frame = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
    write_table(frame, out / "results.parquet")
    with atomic_path(out / "poses.sdf.gz") as tmp, gzip.open(tmp, "wt", encoding="utf-8") as sd:
        for first in (True, False):  # the best pose of every molecule, then the others
            for part in parts:
                poses = pd.read_parquet(part, columns=["status", "poses"])
                for text in poses.loc[poses["status"] == "ok", "poses"]:
                    blocks = _split_sdf(text)
                    sd.writelines(blocks[:1] if first else blocks[1:])
    best = frame.loc[frame.get("status", pd.Series(dtype=str)) == "ok"].nsmallest(5, "score")
    summary = {
        **bundle.summary(),
        "settings": settings.model_dump(),
        "rows_in": rows_in,
        "docked": docked,
        "rejected": rows_in - docked,
        "reasons": dict(reasons.most_common()),
        "best": [
            {"id": str(r.id), "smiles": str(r.smiles), "score": float(r.score)}
            for r in best.itertuples()
        ],
        "parts": len(parts),
        **info,
    }
    tmp_path = out / "summary.json.tmp"
    tmp_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_path, out / "summary.json")
    return summary
