"""Run (or resume) a search in this process: open the study, its ledger and its loop,
run batches until the budget is scored, settle what other workers left behind.

Any number of processes may run ``run_optimization`` on one storage at once: the study's
oracle ledger keeps the oracle calls exact across them (``molspace.optimization.ledger``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molspace.errors import ConfigError
from molspace.optimization.cache import OracleCache
from molspace.optimization.config import OptimizeConfig
from molspace.optimization.ledger import OracleLedger, open_ledger
from molspace.optimization.loop import Progress, SearchLoop
from molspace.optimization.progress import Snapshot
from molspace.optimization.recovery import drain, recover
from molspace.optimization.retrain import Retrainer
from molspace.optimization.scoring import Constraints, Scorer, build_scorer
from molspace.optimization.study import (
    MOL_ATTR,
    Z_ATTR,
    load_study,
    resolve_space,
    scored_records,
    seed_smiles,
)

__all__ = ["OptimizeResult", "run_optimization"]


@dataclass
class OptimizeResult:
    """What a run did: counts, best molecules, timings; ``study`` is the Optuna study."""

    study: Any
    n_trials: int
    n_calls: int
    n_new_calls: int
    budget: int
    stopped: bool
    seconds: float
    stop_reason: str = ""  # budget, stop_requested or trial_cap (molspace.optimization.loop)
    max_trials: int = 0
    overhead_seconds: dict[str, float] = field(default_factory=dict)
    retrain_rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.n_calls >= self.budget


def run_optimization(
    config: OptimizeConfig,
    objective: dict[str, Any] | None = None,
    *,
    out_dir: str | Path = "optimize_out",
    latent: Any = None,
    scorer: Scorer | None = None,
    worker_id: int = 0,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[Snapshot], None] | None = None,
) -> OptimizeResult:
    """Run (or resume) the study until ``config.budget`` unique molecules are scored.

    ``latent``/``scorer`` default to what the config names; pass them to reuse loaded
    objects (tests, benchmarks). ``should_stop`` (default: SIGTERM/SIGINT seen) is polled
    between batches; ``on_batch`` gets a ``Snapshot`` after every batch (progress).
    """
    from molspace.interrupt import interruptible, stop_requested
    from molspace.optimization.storage import storage_url

    start = time.perf_counter()
    with interruptible():  # imports and loading: seconds on a loaded node, nothing to save
        import optuna  # noqa: F401

        if latent is None:
            from molspace.latent import LatentSpace

            latent = LatentSpace.load(config.model)
        if config.retrain.every:  # fine-tuning changes the model: never the caller's copy
            latent = _own_model_copy(latent)
        if scorer is None:
            scorer = build_scorer(config.scorer_spec(objective))
    url = storage_url(config.storage, out_dir)
    study = load_study(config, url, scorer.directions)
    records = scored_records(study)
    ledger = open_ledger(url, study.study_name, study._study_id, config.budget, config.stale_after)
    try:
        stop = should_stop or stop_requested
        loop = _open_loop(study, ledger, records, config, latent, scorer, worker_id, stop)
        loop.on_batch = on_batch
        recover(loop)
        max_trials = trial_cap(config)
        stopped = loop.run(max_trials)
        if not stopped:
            drain(loop)
        recover(loop)  # a worker that died while this one ran leaves nothing RUNNING
        n_calls = ledger.status().scored
    finally:
        ledger.close()
    return OptimizeResult(
        study=study,
        n_trials=loop.progress.n_trials,
        n_calls=n_calls,
        n_new_calls=loop.progress.n_new,
        budget=config.budget,
        stopped=stopped,
        seconds=time.perf_counter() - start,
        stop_reason=loop.stop_reason,
        max_trials=max_trials,
        overhead_seconds=dict(loop.timings),
        retrain_rounds=list(loop.retrainer.rounds) if loop.retrainer else [],
    )


def trial_cap(config: OptimizeConfig) -> int:
    """``max_trials``, or 10 trials per molecule of the budget plus 10 batches."""
    return config.max_trials or 10 * config.budget + 10 * config.batch_size


def _open_loop(
    study: Any,
    ledger: OracleLedger,
    records: list[dict[str, Any]],
    config: OptimizeConfig,
    latent: Any,
    scorer: Scorer,
    worker_id: int,
    should_stop: Callable[[], bool],
) -> SearchLoop:
    """A loop resumed from the study: its cache, counts, search space and the exact
    latent vectors of the molecules scored so far (local-move parents)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    cache = OracleCache.from_records(config.budget, records)
    asked = sum(1 for t in trials if t.state != optuna.trial.TrialState.WAITING)
    counts = ledger.start(asked, records)
    seeds = seed_smiles(config) if worker_id == 0 else []
    space, seed_latents = resolve_space(study, config, latent, seeds, ledger)
    if space.latent_dim != latent.latent_dim:
        raise ConfigError(
            f"study {config.study_name!r} was built for a {space.latent_dim}-dim latent "
            f"space; this model has {latent.latent_dim}"
        )
    retrain = config.retrain
    loop = SearchLoop(
        study,
        space,
        latent,
        scorer,
        Constraints(
            config.constraints,
            references=seed_smiles(config),
            expensive=bool(getattr(scorer, "expensive", False)),
        ),
        cache,
        config,
        ledger,
        should_stop=should_stop,
        worker_id=worker_id,
        rng=np.random.default_rng([config.seed, worker_id, len(cache)]),
        progress=Progress(n_total=len(trials), scored=counts.scored, held=counts.held),
        retrainer=Retrainer(retrain, retrain.every) if retrain.every else None,
    )
    if seeds and seed_latents is not None:
        loop.seeds = {
            s: np.asarray(z, dtype=float) for s, z in zip(seeds, seed_latents, strict=True)
        }
    for t in trials:
        mol = t.user_attrs.get(MOL_ATTR)
        seed = t.user_attrs.get("seed_smiles")
        if seed and t.user_attrs.get(Z_ATTR):  # restarts start from the seeds
            loop.seeds[seed] = np.asarray(t.user_attrs[Z_ATTR], dtype=float)
        if not mol:
            continue
        if mol.get("smiles") and mol.get("status") not in ("invalid", "error", "abandoned"):
            loop.progress.decoded.add(mol["smiles"])
        if mol.get("status") == "scored" and "feasible" in mol:
            loop.violation[mol["smiles"]] = _violation(mol)
        if mol.get("status") == "scored" and mol.get("z"):
            loop.parents[mol["smiles"]] = np.asarray(mol["z"], dtype=float)
    return loop


def _violation(mol: dict[str, Any]) -> float:
    """Summed constraint violation of a told molecule (1 for an infeasible one told
    before the constraint values were recorded)."""
    if mol.get("feasible"):
        return 0.0
    values = mol.get("constraints") or {}
    return sum(max(float(v), 0.0) for v in values.values()) or 1.0


def _own_model_copy(latent: Any) -> Any:
    """The same latent space with a private copy of the model's weights."""
    import copy

    own = copy.copy(latent)
    own.model = copy.deepcopy(latent.model)
    return own
