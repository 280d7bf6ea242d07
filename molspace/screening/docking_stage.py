"""The docking stage of a screen (``[screen.docking]``): passing molecules docked on Dask.

It runs once the ligand-based pass has stored every partition, so the global dedup
and, for a funnel, the ranking over the whole library are known:

1. **selection**: every row that passed the filters, or with ``funnel_top = N`` the N
   best of them by ``funnel_by`` (default: the screen's ``score``; ties go to the
   earlier row). What is docked is the screen's standardized parent
   (``canonical_smiles``) in the charge state the standardizer left it (neutralized
   by default; see :mod:`molspace.docking.ligand` on protonation). A funnel docks
   best first, otherwise in input order.
2. **docking**: the selection in chunks of ``chunk_size`` molecules, each one Dask task
   (in this process with ``workers=0``) running :func:`molspace.docking.dock_table`,
   stored atomically as ``docking/parts/part-NNNNNN.parquet`` with its poses (SD
   text). ``docking/run.json`` holds the stage's key (target, settings, funnel and the
   screen's configuration): a re-run skips the chunks on disk; another key is refused
   (``force`` recomputes). A molecule that cannot be prepared or docked (or outlasts
   ``time_limit``) is a docking reject with its reason; nothing fails a chunk.
3. **merge**: ``results/`` gain ``docking_status`` (``ok``/``rejected``; null when not
   selected), ``docking_reason``, ``docking_score`` (kcal/mol, best pose),
   ``docking_ligand_efficiency`` and ``docking_seconds``; ``top_k.csv`` is ranked again
   (by default by ``docking_score``, most negative first); ``poses.sdf.gz`` holds the
   best pose of every docked molecule, best score first, then their other poses (SD
   tags ``id``, ``pose``, ``score``, ``smiles``); ``docking_rejects.csv`` lists the
   docking rejects (``source,row,id,input,reason``). The counts add up:
   ``passed = selected + not_selected`` and ``selected = docked + rejected``.
"""

from __future__ import annotations

import gzip
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from molspace.errors import ConfigError
from molspace.interrupt import Interrupted, stop_requested
from molspace.screening.spec import ScreenSpec

__all__ = ["DOCKING_OUTPUTS", "RESULT_COLUMNS", "dock_chunk", "run_docking_stage"]

#: what ``force`` removes besides the screen's own outputs
DOCKING_OUTPUTS = ("docking", "poses.sdf.gz", "docking_rejects.csv")
#: columns the stage adds to ``results/`` (from ``dock_table``'s, renamed)
RESULT_COLUMNS = {
    "status": "docking_status",
    "reason": "docking_reason",
    "score": "docking_score",
    "ligand_efficiency": "docking_ligand_efficiency",
    "dock_seconds": "docking_seconds",
}
POLL_SECONDS = 0.5
SD_END = "$$$$\n"


@dataclass
class StageOptions:
    """Where the stage runs: ``client`` (Dask) or, when None, this process."""

    client: Any = None
    log: Callable[[str], None] | None = None


def dock_chunk(
    records: pd.DataFrame, target: Any, settings_json: str
) -> tuple[pd.DataFrame, float]:
    """The task a worker runs: dock ``records`` (``id``, ``smiles``, ...); the seconds taken."""
    from molspace.docking.core import dock_table
    from molspace.docking.settings import DockingSettings

    started = time.perf_counter()
    table = dock_table(records, target, DockingSettings.model_validate_json(settings_json))
    return table, time.perf_counter() - started


def select(out_dir: Path, spec: ScreenSpec) -> tuple[pd.DataFrame, int, str | None]:
    """The molecules to dock (``source,row,id,smiles``), the number passed, the funnel column."""
    stage = spec.screen.docking
    assert stage is not None
    column = None
    if stage.funnel_top is not None:
        column = stage.funnel_by or spec.rank_column(docked=False)
    wanted = ["source", "row", "id", "canonical_smiles", "passed"]
    if column is not None and column not in wanted:
        wanted.append(column)
    frames = []
    passed = 0
    for index, path in enumerate(sorted((out_dir / "results").glob("part-*.parquet"))):
        if column is not None and column not in pq.read_schema(path).names:
            raise ConfigError(f"screen.docking.funnel_by: no column {column!r} in the results")
        table = pd.read_parquet(path, columns=wanted)
        table = table.loc[table["passed"].to_numpy(dtype=bool)].copy()
        passed += len(table)
        table["_part"], table["_order"] = index, np.arange(len(table))
        frames.append(table)
        if column is not None and stage.funnel_top is not None:  # keep memory at the funnel
            frames = [_best(pd.concat(frames, ignore_index=True), column, stage)]
    empty = pd.DataFrame(columns=[*wanted, "_part", "_order"])
    chosen = pd.concat(frames, ignore_index=True) if frames else empty
    if column is not None:
        chosen = _best(chosen, column, stage)
    chosen = chosen.rename(columns={"canonical_smiles": "smiles"})
    keep = ["source", "row", "id", "smiles", *([column] if column else [])]
    return chosen[keep].reset_index(drop=True), passed, column


def _best(table: pd.DataFrame, column: str, stage: Any) -> pd.DataFrame:
    table = table[table[column].notna()]
    order = table.sort_values(
        [column, "_part", "_order"],
        ascending=[stage.funnel_ascending, True, True],
        kind="stable",
    )
    return order.head(stage.funnel_top)


def _part_path(root: Path, index: int) -> Path:
    return root / "parts" / f"part-{index:06d}.parquet"


class _Progress:
    """One log line per stored chunk: molecules done, rate and time left."""

    def __init__(self, total: int, done: int, log: Callable[[str], None] | None) -> None:
        self.total, self.done, self.log = total, done, log
        self.new = 0
        self.started = time.perf_counter()
        if log is not None:
            log(f"docking: {total:,} molecules selected, {done:,} already docked (resumed)")

    def advance(self, n: int) -> None:
        self.done += n
        self.new += n
        if self.log is None:
            return
        seconds = time.perf_counter() - self.started
        rate = self.new / seconds if seconds > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = f", about {left / 60:.1f} min left" if left == left else ""
        self.log(
            f"docking: {self.done:,}/{self.total:,} molecules "
            f"({self.done / max(self.total, 1):.0%}), {rate:.3f} mol/s{eta}"
        )


def run_docking_stage(out_dir: Path, spec: ScreenSpec, opts: StageOptions) -> dict[str, Any]:
    """Select, dock (resumably) and merge; returns the ``docking`` block of the summary."""
    from molspace.docking.resume import open_run
    from molspace.docking.settings import require_docking_packages
    from molspace.docking.target import resolve_target

    stage = spec.screen.docking
    assert stage is not None
    require_docking_packages()
    target = resolve_target(stage.target)
    settings = stage.settings()
    root = out_dir / "docking"
    key = stage.key(target.key, spec.partition_hash())
    describe = {"target": target.name, "target_key": target.key, "stage": stage.model_dump()}
    started = time.perf_counter()
    conflict = f"{out_dir}: holds docking results of another target, docking settings or screen"
    open_run(root, key, describe, conflict)
    queue, passed, funnel_column = select(out_dir, spec)
    size = stage.chunk_size
    starts = range(0, len(queue), size)
    chunks = [(i, queue.iloc[start : start + size]) for i, start in enumerate(starts)]
    todo = [(i, c) for i, c in chunks if not _part_path(root, i).exists()]
    progress = _Progress(len(queue), len(queue) - sum(len(c) for _, c in todo), opts.log)
    run = _execute(todo, root, target, settings.model_dump_json(), key, opts, progress)
    wall = time.perf_counter() - started
    counts = _merge(out_dir, root, len(chunks))
    selected = len(queue)
    docked = counts.pop("docked")
    summary = {
        **target.summary(),
        "settings": settings.model_dump(),
        "passed": passed,
        "funnel_top": stage.funnel_top,
        "funnel_by": funnel_column,
        "selected": selected,
        "not_selected": passed - selected,
        "docked": docked,
        "rejected": counts["rejected"],
        "rejected_by_reason": counts["rejected_by_reason"],
        "accounting_ok": counts.pop("merged") == selected == docked + counts["rejected"],
        "chunks": len(chunks),
        "chunks_resumed": len(chunks) - len(todo),
        "chunks_computed": run["computed"],
        "compute_s": round(run["compute"], 3),
        "wall_s": round(wall, 3),
        "molecules_per_s": round(progress.new / wall, 4) if wall > 0 and progress.new else None,
        "best": counts["best"],
    }
    return summary


def _execute(
    todo: list[tuple[int, pd.DataFrame]],
    root: Path,
    target: Any,
    settings_json: str,
    key: str,
    opts: StageOptions,
    progress: _Progress,
) -> dict[str, Any]:
    from molspace.io import write_table

    run: dict[str, Any] = {"computed": 0, "compute": 0.0}

    def store(index: int, table: pd.DataFrame, seconds: float, expected: int) -> None:
        if len(table) != expected:  # the accounting invariant; a bug if it ever fails
            raise AssertionError(f"docking chunk {index}: {len(table)} rows for {expected}")
        write_table(table, _part_path(root, index))
        run["computed"] += 1
        run["compute"] += seconds
        progress.advance(expected)

    if not todo:
        return run
    if opts.client is None:
        from molspace.docking.core import close_engines

        try:
            for index, chunk in todo:
                table, seconds = dock_chunk(chunk, target, settings_json)
                store(index, table, seconds, len(chunk))
                if stop_requested():
                    raise Interrupted(f"docking stopped after {run['computed']} new chunk(s)")
        finally:
            close_engines()
        return run
    from distributed import wait

    client = opts.client
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    limit = 2 * n_workers + 2
    shared = client.scatter(target, broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    pending: dict[str, tuple[Any, int, int]] = {}

    def drain(until: int) -> None:
        while len(pending) > until and not stop_requested():
            futures = [f for f, _, _ in pending.values()]
            with suppress(TimeoutError):
                wait(futures, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            for future in futures:
                if future.done():
                    _, index, expected = pending.pop(future.key)
                    table, seconds = future.result()  # a task's own error is raised here
                    future.release()
                    store(index, table, seconds, expected)

    for index, chunk in todo:
        future = client.submit(
            dock_chunk,
            chunk,
            shared,
            settings_json,
            key=f"molspace-screen-dock-{key}-{index}-{token}",
            pure=False,
            retries=1,
        )
        pending[future.key] = (future, index, len(chunk))
        drain(limit - 1)
        if stop_requested():
            break
    drain(0)
    if stop_requested():
        left = [f for f, _, _ in pending.values()]
        if left:
            client.cancel(left)
        raise Interrupted(f"docking stopped after {run['computed']} new chunk(s)")
    return run


def _split_sdf(text: str) -> list[str]:
    return [block + SD_END for block in text.split(SD_END) if block.strip()]


def _merge(out_dir: Path, root: Path, n_chunks: int) -> dict[str, Any]:
    """Docking columns into ``results/``, then docking rejects and ``poses.sdf.gz``."""
    from molspace.io import RejectsWriter, atomic_path, write_table

    parts = [_part_path(root, i) for i in range(n_chunks)]
    columns = ["source", "row", "id", "smiles", *RESULT_COLUMNS]
    tables = [pd.read_parquet(p, columns=columns) for p in parts]
    docked = (
        pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    ).rename(columns=RESULT_COLUMNS)
    docked.index = docked["source"].astype(str) + "\x00" + docked["row"].astype(str)
    merged = 0
    for path in sorted((out_dir / "results").glob("part-*.parquet")):
        table = pd.read_parquet(path)
        keys = table["source"].astype(str) + "\x00" + table["row"].astype(str)
        aligned = docked.reindex(keys.to_numpy())
        merged += int(aligned["docking_status"].notna().sum())
        for column in RESULT_COLUMNS.values():
            values = aligned[column].to_numpy()
            if column in ("docking_status", "docking_reason"):
                table[column] = pd.array(values, dtype="string")
            else:
                table[column] = values.astype("float64")
        write_table(table, path)
    ok = docked["docking_status"] == "ok"
    bad = docked.loc[~ok]
    with atomic_path(out_dir / "docking_rejects.csv") as tmp, RejectsWriter(tmp) as rejects:
        rejects.write(
            bad[["source", "row", "id", "smiles", "docking_reason"]].rename(
                columns={"smiles": "input", "docking_reason": "reason"}
            )
        )
    _write_poses(out_dir / "poses.sdf.gz", parts)
    best = docked.loc[ok].sort_values("docking_score", kind="stable").head(5)
    return {
        "merged": merged,
        "docked": int(ok.sum()),
        "rejected": len(bad),
        "rejected_by_reason": dict(
            Counter(str(r).split(":", 1)[0] for r in bad["docking_reason"]).most_common()
        ),
        "best": [
            {"id": str(r.id), "smiles": str(r.smiles), "score": float(r.docking_score)}
            for r in best.itertuples()
        ],
    }


def _write_poses(path: Path, parts: list[Path]) -> None:
    """Best pose of every docked molecule by score (best first), then the other poses."""
    from molspace.io import atomic_path

    firsts: list[tuple[float, int, str]] = []
    for part in parts:
        table = pd.read_parquet(part, columns=["status", "score", "poses"])
        for score, text in table.loc[table["status"] == "ok", ["score", "poses"]].itertuples(
            index=False
        ):
            blocks = _split_sdf(text)
            if blocks:
                firsts.append((float(score), len(firsts), blocks[0]))
    firsts.sort()
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as sd:
        sd.writelines(block for _, _, block in firsts)
        for part in parts:
            table = pd.read_parquet(part, columns=["status", "poses"])
            for text in table.loc[table["status"] == "ok", "poses"]:
                sd.writelines(_split_sdf(text)[1:])


def rerank(out_dir: Path, spec: ScreenSpec) -> tuple[int, str | None]:
    """``top_k.csv`` again from the merged results (with the docking columns)."""
    from molspace.io import write_table
    from molspace.screening.finalize import _TopK

    column = spec.rank_column()
    top = _TopK(spec.screen.top_k, column, spec.rank_ascending())
    for index, path in enumerate(sorted((out_dir / "results").glob("part-*.parquet"))):
        table = pd.read_parquet(path)
        top.offer(table.loc[table["passed"].to_numpy(dtype=bool)], index)
    best = top.result()
    (out_dir / "top_k.csv").unlink(missing_ok=True)
    if best is None or not len(best):
        return 0, column
    write_table(best, out_dir / "top_k.csv")
    return len(best), column
