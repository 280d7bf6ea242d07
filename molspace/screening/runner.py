"""Orchestration: stream partitions through an executor, store them, resume, finalize.

The driver reads the library chunk by chunk (``read_library``), hands each chunk
to an executor — in this process, or as a Dask future — and writes every
returned partition atomically under ``parts/`` with a manifest line; then
``on_stored`` lets the finishing pass take every partition now complete in
input order, while the workers go on. At most
``max_in_flight`` partitions are outstanding, so neither the driver nor the
cluster ever holds more than a few chunks: memory is bounded whatever the
library size. A worker that dies mid-task costs nothing but time: Dask reruns
its task elsewhere, and the driver writes each partition exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.errors import InputError
from molspace.interrupt import Interrupted, stop_requested
from molspace.io.writers import remove_outputs
from molspace.screening.manifest import Manifest, PartitionEntry, inputs_signature
from molspace.screening.partition import run_partition
from molspace.screening.spec import ScreenSpec

__all__ = ["Partition", "RunOptions", "iter_partitions", "run_partitions"]

#: How often a driver waiting on partitions checks for SIGTERM/SIGINT.
POLL_SECONDS = 0.5

OUTPUT_NAMES = (
    *("parts", "results", "manifest.jsonl", "rejects.csv", "top_k.csv", "summary.json"),
    *("docking", "poses.sdf.gz", "docking_rejects.csv"),  # the docking stage's
)


@dataclass(frozen=True)
class Partition:
    """One chunk of one input file, numbered globally in input order."""

    index: int
    source: str
    chunk: int
    records: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def n_read(self) -> int:
        return len(self.records) + len(self.rejects)

    def row_range(self) -> tuple[int, int]:
        rows = pd.concat([self.records["row"], self.rejects["row"]])
        return int(rows.min()), int(rows.max())


@dataclass
class RunOptions:
    """How to execute: ``workers = 0`` runs in this process, without Dask."""

    workers: int | None = None
    scheduler: str | None = None
    client: Any = None
    force: bool = False
    max_in_flight: int | None = None
    on_progress: Callable[[int], None] | None = None
    log: Callable[[str], None] | None = None
    on_stored: Callable[[Manifest], None] | None = None  # after each manifest line


def iter_partitions(paths: Sequence[Path], spec: ScreenSpec) -> Iterator[Partition]:
    """Stream every input file as partitions of ``screen.chunk_size`` rows read."""
    from molspace.io import read_library

    o = spec.screen
    index = 0
    for path in paths:
        chunks = read_library(
            path,
            chunk_size=o.chunk_size,
            smiles_column=o.smiles_column,
            id_column=o.id_column,
            fmt=o.format,
        )
        for chunk_index, chunk in enumerate(chunks):
            if chunk.n_read == 0:
                continue
            yield Partition(index, str(path), chunk_index, chunk.records, chunk.rejects)
            index += 1


def prepare_output(out_dir: Path, force: bool) -> None:
    """``--force``: remove what an earlier screen wrote here (only molspace's own files)."""
    if force:
        remove_outputs(out_dir, OUTPUT_NAMES)


def open_manifest(paths: Sequence[Path], spec: ScreenSpec, out_dir: Path) -> Manifest:
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
    return Manifest.open(out_dir, spec.partition_hash(), inputs_signature(list(paths)))


class _Store:
    """Writes finished partitions (atomically) and records them in the manifest."""

    def __init__(self, out_dir: Path, manifest: Manifest, config_hash: str) -> None:
        self.out_dir, self.manifest, self.config_hash = out_dir, manifest, config_hash
        (out_dir / "parts").mkdir(parents=True, exist_ok=True)
        self.computed = 0
        self.seconds = 0.0

    def save(self, part: Partition, table: pd.DataFrame, seconds: float) -> None:
        from molspace.io import write_table

        if len(table) != part.n_read:  # the accounting invariant; a bug if it ever fails
            raise AssertionError(f"partition {part.index}: {len(table)} rows for {part.n_read}")
        name = f"parts/part-{part.index:06d}.parquet"
        write_table(table, self.out_dir / name)
        first, last = part.row_range()
        status = table["status"]
        self.manifest.record(
            PartitionEntry(
                partition=part.index,
                source=part.source,
                chunk=part.chunk,
                row_first=first,
                row_last=last,
                n_read=len(table),
                n_ok=int((status == "ok").sum()),
                n_rejected=int((status == "rejected").sum()),
                n_passed=int(table["passed"].sum()),
                file=name,
                seconds=round(seconds, 4),
                config_hash=self.config_hash,
            )
        )
        self.computed += 1
        self.seconds += seconds


def run_partitions(
    paths: Sequence[Path], spec: ScreenSpec, out_dir: Path, manifest: Manifest, opts: RunOptions
) -> dict[str, Any]:
    """Compute every partition missing from the manifest; returns run statistics."""
    store = _Store(out_dir, manifest, spec.partition_hash())
    spec_json = spec.model_dump_json()
    todo = (p for p in _announce(iter_partitions(paths, spec), manifest, opts))
    started = time.perf_counter()
    info: dict[str, Any] = {"executor": "in-process", "workers": 1}
    _stored(opts, manifest)  # partitions finished by an earlier run
    if opts.workers == 0 and opts.client is None and opts.scheduler is None:
        for part in todo:
            table, seconds = run_partition(part.records, part.rejects, spec_json)
            store.save(part, table, seconds)
            _progress(opts, part.n_read)
            _stored(opts, manifest)
            _stop_if_requested(store)
    else:
        info = _run_dask(todo, spec, spec_json, store, opts)
    info.update(
        partitions_computed=store.computed,
        compute_seconds=round(store.seconds, 3),
        wall_seconds=round(time.perf_counter() - started, 3),
    )
    return info


def _announce(
    parts: Iterator[Partition], manifest: Manifest, opts: RunOptions
) -> Iterator[Partition]:
    """Skip finished partitions (counting them as progress), yield the rest."""
    for part in parts:
        if part.index in manifest.entries:
            _progress(opts, part.n_read)
            continue
        yield part


def _progress(opts: RunOptions, rows: int) -> None:
    if opts.on_progress is not None:
        opts.on_progress(rows)


def _stored(opts: RunOptions, manifest: Manifest) -> None:
    if opts.on_stored is not None:
        opts.on_stored(manifest)


def _run_dask(
    todo: Iterator[Partition], spec: ScreenSpec, spec_json: str, store: _Store, opts: RunOptions
) -> dict[str, Any]:
    from molspace.cluster import connect

    info: dict[str, Any] = {}
    with ExitStack() as stack:
        client = opts.client
        flight = _InFlight(store, opts)
        limit = opts.max_in_flight
        tag = spec.partition_hash()
        for part in todo:
            if not info:  # start (or join) a cluster only when there is work
                if client is None:
                    handle = stack.enter_context(
                        connect(spec.cluster, scheduler=opts.scheduler, workers=opts.workers)
                    )
                    client = handle.client
                    info.update(
                        executor=handle.description,
                        dashboard=handle.dashboard_link,
                        workers=handle.n_workers,
                    )
                else:
                    info.update(
                        executor=f"client of {client.scheduler.address}",
                        dashboard=client.dashboard_link,
                        workers=max(1, len(client.scheduler_info().get("workers", {}))),
                    )
                if opts.log is not None:
                    opts.log(f"{info['executor']}; dashboard: {info['dashboard']}")
                if limit is None:
                    limit = 2 * info["workers"] + 2
            future = client.submit(
                run_partition,
                part.records,
                part.rejects,
                spec_json,
                key=f"molspace-screen-{tag}-{part.index}",
                pure=False,
                retries=1,
            )
            flight.add(future, part)
            flight.drain(max(0, (limit or 1) - 1))
            if stop_requested():
                break
        flight.drain(0)
        flight.abandon()
        _stop_if_requested(store)
    return info


class _InFlight:
    """The partitions submitted and not yet stored, stored in the order they finish.

    Waiting polls the stop flag every :data:`POLL_SECONDS`: on SIGTERM the driver stops
    waiting at once and cancels what is still running (a batch system kills the job
    ``KillWait``, 30 s by default, after SIGTERM, and one partition may take minutes).
    Partitions finished by then are stored; abandoned ones are simply not in the
    manifest, so a re-run computes them again.
    """

    def __init__(self, store: _Store, opts: RunOptions) -> None:
        self.store, self.opts = store, opts
        self.pending: dict[str, tuple[Any, Partition]] = {}

    def add(self, future: Any, part: Partition) -> None:
        self.pending[future.key] = (future, part)

    def drain(self, until: int) -> None:
        """Store finished partitions until at most ``until`` are in flight (or a stop)."""
        from distributed import wait

        while len(self.pending) > until:
            futures = [future for future, _ in self.pending.values()]
            with suppress(TimeoutError):  # no partition finished: check for a stop
                wait(futures, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            for future in futures:
                if future.done():
                    self._store(future)
            if stop_requested():
                return

    def _store(self, future: Any) -> None:
        _, part = self.pending.pop(future.key)
        table, seconds = future.result()  # a task's own error is raised here, as before
        future.release()
        self.store.save(part, table, seconds)
        _progress(self.opts, part.n_read)
        _stored(self.opts, self.store.manifest)

    def abandon(self) -> None:
        """Cancel the partitions still running (only after a stop request)."""
        futures = [future for future, _ in self.pending.values()]
        self.pending.clear()
        if futures:
            futures[0].client.cancel(futures)


def _stop_if_requested(store: _Store) -> None:
    """On SIGTERM/SIGINT: every finished partition is saved; a re-run resumes from here."""
    if stop_requested():
        raise Interrupted(f"screen stopped after {store.computed} new partition(s)")
