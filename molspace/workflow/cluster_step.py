"""The run's one Dask client, started on first use from the workflow's [cluster] table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from molspace.config import parse_config

__all__ = ["client_for_workflow"]


@contextmanager
def client_for_workflow(
    cluster: dict[str, Any] | None,
    *,
    scheduler: str | None,
    workers: int | None,
    log: Callable[[str], None],
) -> Iterator[Any]:
    """Yield a Dask client for the run; the CLI's --scheduler/--workers win over the file."""
    from molspace.cluster import ClusterSpec, connect

    spec = parse_config(ClusterSpec, cluster or {}, "[cluster]")
    with connect(spec, scheduler=scheduler, workers=workers) as handle:
        link = f", dashboard {handle.dashboard_link}" if handle.dashboard_link else ""
        log(f"dask: {handle.description}{link}")
        yield handle.client
