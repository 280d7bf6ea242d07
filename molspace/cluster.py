"""How molspace gets a Dask client: a LocalCluster, an existing scheduler, or SLURM/PBS.

* default: a ``LocalCluster`` of worker *processes* with one thread each (RDKit
  holds the GIL, so threads would not run molecules in parallel), one per core;
* ``address = "tcp://host:8786"`` (CLI ``--scheduler``): join a running cluster;
* ``kind = "slurm"`` / ``"pbs"``: dask-jobqueue submits worker jobs built from the
  ``[cluster]`` table (queue, account, cores, memory, walltime, jobs, ...).

Everything else about scheduling (retries of tasks on dead workers, the
dashboard) is Dask's own; nothing here is home-made.

The clusters molspace starts run lean (``diagnostics = false``, the default):
Dask's statistical profiler samples each worker's stack every 10 ms and every
process wakes on a 20 ms event-loop tick. On RDKit work that costs 5-10 % of the
CPU (more where cores are few), for a profile tab nobody reads during a screen.
``diagnostics = true`` keeps Dask's defaults.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from molspace.config import StrictModel
from molspace.errors import ConfigError

__all__ = [
    "LEAN_DASK_CONFIG",
    "ClusterHandle",
    "ClusterSpec",
    "connect",
    "default_workers",
    "make_jobqueue_cluster",
]

# Dask settings of the clusters molspace starts, unless ``diagnostics = true``. Measured on
# 2 cores (benchmarks/README.md): an idle 2-worker LocalCluster burns 3.3 CPU-s per 30 s
# with Dask's defaults and 0.8 with these; a screen uses ~10 % less CPU in all.
LEAN_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,  # 10 ms stack sampling in every worker
    "distributed.admin.tick.interval": "1s",  # event-loop health tick (default 20 ms)
    "distributed.admin.system-monitor.interval": "1s",  # psutil polling (default 500 ms)
}


class ClusterSpec(StrictModel):
    """The ``[cluster]`` table of a workflow."""

    kind: Literal["local", "slurm", "pbs"] = "local"
    address: str | None = Field(None, description="join a running scheduler (tcp://host:port)")
    n_workers: int | None = Field(
        None, ge=1, description="local: worker processes (default: cores)"
    )
    threads_per_worker: int = Field(1, ge=1)
    memory_limit: str = Field("auto", description="local: per worker, e.g. '4GiB'")
    dashboard_address: str = ":8787"
    diagnostics: bool = Field(
        False, description="keep Dask's profiler and 20 ms tick (dashboard profile tab)"
    )
    # dask-jobqueue (slurm / pbs)
    jobs: int = Field(1, ge=1, description="batch jobs to submit")
    queue: str | None = None
    account: str | None = None
    cores: int = Field(1, ge=1, description="cores per job")
    processes: int | None = Field(None, ge=1, description="worker processes per job (= cores)")
    memory: str = Field("4GB", description="memory per job")
    walltime: str = "01:00:00"
    job_extra_directives: list[str] = Field(default_factory=list)
    job_script_prologue: list[str] = Field(default_factory=list)
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None
    python: str | None = Field(None, description="python on the compute nodes")


def default_workers() -> int:
    """Worker processes for this machine: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_jobqueue_cluster(spec: ClusterSpec) -> Any:
    """A SLURMCluster/PBSCluster from the spec; submits nothing until ``scale``."""
    from dask_jobqueue import PBSCluster, SLURMCluster

    cls = {"slurm": SLURMCluster, "pbs": PBSCluster}.get(spec.kind)
    if cls is None:
        raise ConfigError(f"cluster kind {spec.kind!r} is not a batch system (slurm, pbs)")
    options: dict[str, Any] = {
        "cores": spec.cores,
        "processes": spec.processes or spec.cores,
        "memory": spec.memory,
        "walltime": spec.walltime,
        "job_extra_directives": spec.job_extra_directives,
        "job_script_prologue": [*_lean_exports(spec), *spec.job_script_prologue],
        "scheduler_options": {"dashboard_address": spec.dashboard_address},
    }
    for key in ("queue", "account", "local_directory", "log_directory", "interface", "python"):
        value = getattr(spec, key)
        if value is not None:
            options[key] = value
    try:
        return cls(**options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[cluster] {spec.kind}: {exc}") from None


def _lean_exports(spec: ClusterSpec) -> list[str]:
    """Batch workers read Dask settings from ``DASK_*`` variables of their job script."""
    if spec.diagnostics:
        return []
    out = []
    for key, value in LEAN_DASK_CONFIG.items():
        name = "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))
        out.append(f'export {name}="{value}"')
    return out


@dataclass
class ClusterHandle:
    """A connected client, the dashboard link, and the worker count we expect."""

    client: Any
    dashboard_link: str | None
    n_workers: int
    description: str


@contextmanager
def connect(
    spec: ClusterSpec | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Iterator[ClusterHandle]:
    """Yield a client on the cluster the spec (or ``scheduler``/``workers``) asks for.

    What this opens it also closes; a joined cluster is left running (and keeps its
    own Dask settings).
    """
    import dask
    import distributed  # noqa: F401  (loads Dask's distributed defaults before we override some)

    spec = spec or ClusterSpec()
    address = scheduler or spec.address
    if address is not None or spec.diagnostics:
        with _connect(spec, address, workers) as handle:
            yield handle
        return
    # LocalCluster's nannies hand this config to the worker processes they spawn
    with dask.config.set(LEAN_DASK_CONFIG), _connect(spec, address, workers) as handle:
        yield handle


@contextmanager
def _connect(
    spec: ClusterSpec, address: str | None, workers: int | None
) -> Iterator[ClusterHandle]:
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            n = max(1, len(client.scheduler_info().get("workers", {})))
            yield ClusterHandle(client, client.dashboard_link, n, f"scheduler {address}")
        finally:
            client.close()
        return
    if spec.kind == "local":
        n = workers or spec.n_workers or default_workers()
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            memory_limit=spec.memory_limit,
            dashboard_address=spec.dashboard_address,
        )
        description = f"LocalCluster, {n} worker process(es)"
    else:
        cluster = make_jobqueue_cluster(spec)
        cluster.scale(jobs=spec.jobs)
        n = spec.jobs * (spec.processes or spec.cores)
        description = f"{spec.kind} cluster, {spec.jobs} job(s) x {spec.processes or spec.cores}"
    try:
        with Client(cluster) as client:
            try:
                yield ClusterHandle(client, cluster.dashboard_link, n, description)
            finally:
                _quiet_shutdown(client)
    finally:
        cluster.close()


def _silence_shutdown_logs() -> None:
    """Runs on each worker just before the cluster we own closes."""
    import logging

    for name in ("distributed.worker", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _quiet_shutdown(client: Any) -> None:
    """Silence the workers' Dask loggers before a cluster molspace started closes.

    A worker heartbeat still in flight while the worker closes its own connections
    logs "Failed to communicate with scheduler during heartbeat" with a traceback
    (a race inside distributed; seen once at the end of a 100k screen). By then every
    result is stored, so the traceback only alarms the user. Errors during the run
    are still logged; a joined cluster is left alone.
    """
    with contextlib.suppress(Exception):
        client.run(_silence_shutdown_logs, on_error="ignore")
