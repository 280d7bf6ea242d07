"""Virtual screening of molecule libraries of any size, in-process or on Dask.

``screen(libraries, config, out)`` reads one or many library files in
partitions, runs :func:`screen_partition` on each (standardize, deduplicate,
filters, descriptors, objective, similarity to a query set), and writes to
``out``:

* ``results/part-NNNNNN.parquet`` — a partitioned Parquet dataset, one row per
  accepted input row (``passed``, ``failed_filter``, descriptors, scores...), in
  input order; only passing rows with ``only_passing``;
* ``rejects.csv`` — every unreadable/unparseable row: source, row, id, input, reason;
* ``top_k.csv`` — the best passing rows by score (or ``screen.rank_by``);
* ``summary.json`` — rows in, accepted, passed, rejected by reason, failures by
  filter, passes of each filter, timings, versions; ``rows_in == accepted + rejected``;
* ``parts/`` + ``manifest.jsonl`` — the resume cache: re-running the same
  command skips finished partitions (``force`` recomputes); delete it when done;
* with ``[screen.docking]``: ``poses.sdf.gz``, ``docking_rejects.csv``, ``docking/``
  (its resume cache) and ``docking_*`` columns in ``results``; ``top_k.csv`` ranks by
  ``docking_score`` (see :mod:`molspace.screening.docking_stage`).

Every input row ends in exactly one place: ``results`` or ``rejects.csv``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.screening.partition import screen_partition
from molspace.screening.spec import ScreenSpec, load_screen_spec

__all__ = ["ScreenResult", "ScreenSpec", "load_screen_spec", "screen", "screen_partition"]


@dataclass
class ScreenResult:
    """Where a screen's outputs are, and its summary."""

    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def results_dir(self) -> Path:
        return self.out_dir / "results"

    @property
    def rejects_path(self) -> Path:
        return self.out_dir / "rejects.csv"

    @property
    def top_k_path(self) -> Path:
        return self.out_dir / "top_k.csv"

    @property
    def poses_path(self) -> Path:
        """Docked poses (``[screen.docking]`` only), best score first."""
        return self.out_dir / "poses.sdf.gz"

    def results(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole results dataset in input order (small libraries; stream big ones)."""
        files = sorted(self.results_dir.glob("part-*.parquet"))
        frames = [pd.read_parquet(f, columns=list(columns) if columns else None) for f in files]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def rejects(self) -> pd.DataFrame:
        return pd.read_csv(self.rejects_path, dtype={"row": "int64"}, keep_default_na=False)

    def top_k(self) -> pd.DataFrame:
        return pd.read_csv(self.top_k_path) if self.top_k_path.exists() else pd.DataFrame()


def screen(
    libraries: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    config: ScreenSpec | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] = "screen_out",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    force: bool = False,
    only_passing: bool | None = None,
    progress: bool = False,
    max_in_flight: int | None = None,
    log: Callable[[str], None] | None = None,
) -> ScreenResult:
    """Screen ``libraries`` with ``config`` (a spec, a TOML path, or None for defaults).

    Executors: ``workers=0`` runs in this process without Dask; ``client`` uses
    your Dask client; ``scheduler="tcp://..."`` joins a running cluster; otherwise
    the ``[cluster]`` table decides (default: a LocalCluster with ``workers``
    processes, one per core). ``progress`` shows a rich bar with molecules/s.

    Raises ``InputError``/``ConfigError`` for a missing file, a bad config, or an
    output directory that holds a screen of another configuration (use ``force``).
    """
    from molspace.screening.finalize import Finalizer
    from molspace.screening.progress import screen_progress
    from molspace.screening.runner import (
        RunOptions,
        open_manifest,
        prepare_output,
        run_partitions,
    )
    from molspace.versions import versions

    started = time.perf_counter()
    spec = (
        config
        if isinstance(config, ScreenSpec)
        else load_screen_spec(config if config is None else Path(config))
    )
    if only_passing is not None:
        spec = spec.model_copy(
            update={"screen": spec.screen.model_copy(update={"only_passing": only_passing})}
        )
    paths = _paths(libraries)
    out_dir = Path(out)
    prepare_output(out_dir, force)
    manifest = open_manifest(paths, spec, out_dir)
    resumed = len(manifest.entries)
    with ExitStack() as stack:
        cluster: dict[str, Any] = {}
        if spec.screen.docking is not None and client is None and (workers != 0 or scheduler):
            # one cluster for both stages (the docking stage needs it most)
            from molspace.cluster import connect

            opened = connect(spec.cluster, scheduler=scheduler, workers=workers)
            handle = stack.enter_context(opened)
            client = handle.client
            cluster = {
                "executor": handle.description,
                "dashboard": handle.dashboard_link,
                "workers": handle.n_workers,
            }
            if log is not None:
                log(f"{handle.description}; dashboard: {handle.dashboard_link}")
        # the finishing pass runs alongside: it takes each partition once it and all
        # before are stored
        with (
            Finalizer(out_dir, spec) as finisher,
            screen_progress(paths, spec, enabled=progress) as advance,
        ):
            opts = RunOptions(
                workers=workers,
                scheduler=scheduler,
                client=client,
                max_in_flight=max_in_flight,
                on_progress=advance,
                log=None if cluster else log,
                on_stored=finisher.feed,
            )
            run = {**run_partitions(paths, spec, out_dir, manifest, opts), **cluster}
            finish_start = time.perf_counter()
            counts = finisher.finish(manifest)
            finish_seconds = time.perf_counter() - finish_start
        docking = None
        if spec.screen.docking is not None:
            from molspace.screening.docking_stage import StageOptions, rerank, run_docking_stage

            docking = run_docking_stage(out_dir, spec, StageOptions(client=client, log=log))
            counts["top_k_rows"], counts["rank_by"] = rerank(out_dir, spec)
    total = time.perf_counter() - started
    summary = {
        "inputs": [str(p) for p in paths],
        "config_hash": spec.partition_hash(),
        **counts,
        "only_passing": spec.screen.only_passing,
        "accounting_ok": counts["rows_in"] == counts["accepted"] + counts["rejected"],
        "partitions": len(manifest.entries),
        "partitions_resumed": resumed,
        "partitions_computed": run["partitions_computed"],
        "executor": run.get("executor"),
        "workers": run.get("workers"),
        "dashboard": run.get("dashboard"),
        "timings": {
            "total_s": round(total, 3),
            "partitions_wall_s": run["wall_seconds"],
            "partitions_compute_s": run["compute_seconds"],
            "finalize_s": round(finish_seconds, 3),
            "finalize_total_s": round(finisher.seconds, 3),
            "molecules_per_s": round(counts["rows_in"] / total, 1) if total > 0 else None,
        },
        "versions": versions(),
        "config": spec.model_dump(mode="json"),
    }
    if docking is not None:
        summary["docking"] = docking
    from molspace.io import atomic_path

    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return ScreenResult(out_dir, summary)


def _paths(libraries: Any) -> list[Path]:
    if isinstance(libraries, (str, os.PathLike)):
        libraries = [libraries]
    paths = [Path(p) for p in libraries]
    if not paths:
        from molspace.errors import InputError

        raise InputError("no library given")
    from molspace.io import detect_format

    for path in paths:
        detect_format(path)  # InputError for a missing file or an unknown format
    return paths
