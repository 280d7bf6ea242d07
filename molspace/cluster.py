"""How molspace gets a Dask client: a LocalCluster, an existing scheduler, or SLURM/PBS.

* default: a ``LocalCluster`` of worker *processes* with one thread each (RDKit
  holds the GIL, so threads would not run molecules in parallel), one per core;
* ``address = "tcp://host:8786"`` (CLI ``--scheduler``): join a running cluster;
* ``kind = "slurm"`` / ``"pbs"``: dask-jobqueue submits worker jobs built from the
  ``[cluster]`` table (queue, account, cores, memory, walltime, jobs, ...).

Everything else about scheduling (retries of tasks on dead workers, the
dashboard) is Dask's own; nothing here is home-made.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from molspace.config import StrictModel
from molspace.errors import ConfigError

__all__ = ["ClusterHandle", "ClusterSpec", "connect", "default_workers", "make_jobqueue_cluster"]


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
        "job_script_prologue": spec.job_script_prologue,
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

    What this opens it also closes; a joined cluster is left running.
    """
    from distributed import Client, LocalCluster

    spec = spec or ClusterSpec()
    address = scheduler or spec.address
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
            yield ClusterHandle(client, cluster.dashboard_link, n, description)
    finally:
        cluster.close()
