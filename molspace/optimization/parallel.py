"""Many search loops on a Dask cluster against one shared study.

The driver creates the study and its search space once (so every worker agrees on both),
then each Dask task runs ``run_optimization`` against the shared storage with its own
sampler seed. A stop request in the driver, or a failed worker, sets a
``distributed.Event`` that every worker polls between batches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from molspace.errors import ConfigError
from molspace.optimization.config import OptimizeConfig
from molspace.optimization.progress import Snapshot, snapshot_of
from molspace.optimization.run import run_optimization
from molspace.optimization.scoring import build_scorer
from molspace.optimization.study import load_study, resolve_space, seed_smiles

__all__ = ["run_parallel", "workers_client"]


def _worker(
    config_json: str,
    objective: dict[str, Any] | None,
    out_dir: str,
    worker_id: int,
    stop_event: str | None = None,
) -> dict[str, Any]:
    """One Dask task: run the loop against the shared storage with its own sampler seed,
    stopping between batches once the driver sets the named ``distributed.Event``."""
    from molspace.interrupt import stop_requested

    config = OptimizeConfig.model_validate_json(config_json)
    config = config.model_copy(update={"seed": config.seed + 1000 * worker_id})
    should_stop = stop_requested
    if stop_event is not None:
        from distributed import Event

        event = Event(stop_event)

        def should_stop() -> bool:
            return stop_requested() or event.is_set()

    result = run_optimization(
        config, objective, out_dir=out_dir, worker_id=worker_id, should_stop=should_stop
    )
    return {
        "worker": worker_id,
        "n_trials": result.n_trials,
        "n_new_calls": result.n_new_calls,
        "n_calls": result.n_calls,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason,
        "seconds": result.seconds,
        "retrain_rounds": list(result.retrain_rounds),
    }


def _leave_stop_signals_to_the_driver() -> None:
    """Run on the worker processes of a LocalCluster we started: ignore SIGINT/SIGTERM.

    Ctrl-C (and a batch system's SIGTERM) reaches the whole process group; the workers
    would die mid-batch with a KeyboardInterrupt while the driver turns the same signal
    into the stop event, after which each worker tells its batch and the cluster is
    closed (the nanny stops its worker through a queue, and SIGKILL if it must)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


#: After a stop request, how long the driver waits for Dask workers to tell their batch
#: (SLURM kills a job ``KillWait``, 30 s by default, after SIGTERM).
STOP_GRACE_SECONDS = 5.0


def run_parallel(
    config: OptimizeConfig,
    objective: dict[str, Any] | None,
    client: Any,
    *,
    out_dir: str | Path,
    n_workers: int,
    on_progress: Callable[[Snapshot], None] | None = None,
    progress_every: float = 2.0,
) -> list[dict[str, Any]]:
    """Run ``n_workers`` loops on a Dask cluster against one shared storage.

    The study and its search space are created here first (so workers agree on both),
    then every worker asks/tells against the storage. Use a journal file or an RDB URL:
    in-memory storage cannot be shared. A stop request in this process (SIGTERM/SIGINT,
    ``molspace.interrupt.request_stop``) or a failed worker sets a ``distributed.Event``
    that every worker polls between batches: each tells its batch and returns.
    ``on_progress`` gets a ``Snapshot`` read from the storage every ``progress_every``
    seconds while the workers run. Returns one dict per worker that finished: fewer than
    ``n_workers`` when some were given up after ``STOP_GRACE_SECONDS`` (the caller tells
    their trials, ``molspace.optimization.recovery.settle_running``).
    """
    from distributed import Event

    from molspace.interrupt import interruptible, stop_requested
    from molspace.optimization.storage import storage_url

    url = storage_url(config.storage, out_dir)
    if url == ":memory:":
        raise ConfigError("parallel workers need a shared storage, not :memory:")
    config = config.model_copy(update={"storage": url})
    # initialise the study (space + seeds) once, without scoring anything
    prepare = config.model_copy(update={"max_trials": 1})
    with interruptible():  # imports and loading: seconds on a loaded node, nothing to save
        import optuna  # noqa: F401

        from molspace.latent import LatentSpace

        latent = LatentSpace.load(config.model)
        scorer = build_scorer(config.scorer_spec(objective))
    study = load_study(prepare, url, scorer.directions)
    resolve_space(study, prepare, latent, seed_smiles(prepare))
    if stop_requested():  # SIGTERM while the space was being prepared
        return []
    run_id = uuid.uuid4().hex
    event = Event(f"molspace-stop-{run_id}", client=client)
    futures = [
        client.submit(
            _worker,
            config.model_dump_json(),
            objective,
            str(out_dir),
            i,
            event.name,
            pure=False,
            key=f"optimize-worker-{i}-{run_id}",
        )
        for i in range(n_workers)
    ]
    stopping: float | None = None
    polled = time.monotonic()
    try:
        while not all(f.done() for f in futures):
            if on_progress is not None and time.monotonic() - polled >= progress_every:
                polled = time.monotonic()
                on_progress(snapshot_of(study.get_trials(deepcopy=False), config.budget))
            if stopping is None and (stop_requested() or any(f.status == "error" for f in futures)):
                event.set()  # the others finish their batch; a failure is raised below
                stopping = time.monotonic()
            late = stopping is not None and time.monotonic() - stopping > STOP_GRACE_SECONDS
            if late and stop_requested():
                # a worker still starting up (or in a slow batch): leave it; its claims
                # expire and the caller tells its RUNNING trials (settle_running)
                client.cancel([f for f in futures if not f.done()])
                return client.gather([f for f in futures if f.status == "finished"])
            time.sleep(0.1)
        return client.gather(futures)
    except BaseException:
        event.set()
        raise


@contextmanager
def workers_client(client: Any, workers: int) -> Iterator[Any]:
    """``client`` as given, or a LocalCluster of ``workers`` processes opened (with the
    screen's lean Dask settings and quiet shutdown) and closed here, whose workers leave
    SIGINT/SIGTERM to this process."""
    if client is not None:
        yield client
        return
    from molspace.cluster import connect

    with connect(workers=workers) as handle:
        handle.client.run(_leave_stop_signals_to_the_driver)
        yield handle.client
