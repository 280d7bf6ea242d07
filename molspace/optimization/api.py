"""``molspace.optimize``: run or resume a search and write what a user reads.

One process, or many Dask workers against a shared storage; then the candidates table,
the plots and ``summary.json`` (``molspace.optimization.outputs``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from molspace.errors import InputError
from molspace.optimization.config import OptimizeConfig, load_optimize_config
from molspace.optimization.parallel import run_parallel, workers_client
from molspace.optimization.progress import ProgressReport, Snapshot, study_counts
from molspace.optimization.recovery import settle_running
from molspace.optimization.run import run_optimization, trial_cap
from molspace.optimization.scoring import build_scorer, rejection_counts
from molspace.optimization.study import scored_records, seed_smiles

__all__ = ["optimize"]


def _novelty_reference(config: OptimizeConfig) -> tuple[str | None, str | None]:
    """The novelty set (checked before the run) and, when the default MOSES set is not
    installed, why novelty is skipped."""
    reference = config.novelty_reference
    if reference == "":
        return None, None
    if reference is not None:
        if not Path(reference).is_file():
            raise InputError(f"{reference}: novelty reference set not found")
        return reference, None
    from molspace.metrics.reference import moses_dir

    try:
        train = moses_dir() / "train.csv.gz"
    except InputError as exc:
        return None, f"skipped: {exc}"
    if not train.is_file():
        return None, f"skipped: {train} not found"
    return str(train), None


def trial_cap_message(summary: dict[str, Any]) -> str:
    """The one line that says a run ended at its trial cap, what it found and why."""
    return (
        f"stopped at the trial cap (max_trials = {summary['max_trials']}): "
        f"{summary['n_oracle_calls']} of the budget of {summary['budget']} molecules scored, "
        f"{summary['n_distinct_decoded']} distinct molecules decoded in "
        f"{summary['n_trials']} trials, {summary['n_feasible']} feasible; "
        f"{summary['n_repeats']} trials decoded a molecule already known (the search keeps "
        "landing on the same molecules). Raise optimize.max_trials, widen the search space "
        "(space.radius, space.bound) or relax the constraints."
    )


def optimize(
    config: OptimizeConfig | str | Path | dict[str, Any],
    objective: dict[str, Any] | None = None,
    *,
    out_dir: str | Path,
    workers: int = 1,
    client: Any = None,
    progress: bool | Callable[[Snapshot], None] = False,
    progress_every: float = 10.0,
) -> dict[str, Any]:
    """Run or resume a study (in this process, or ``workers`` Dask workers) and write the
    candidates, plots and summary under ``out_dir``; returns the summary (``stopped`` is
    True when a stop request ended the run early: re-running resumes it).

    ``config``: an ``OptimizeConfig``, the ``[optimize]`` table as a dict, or a TOML file
    with ``[optimize]`` and ``[objective]`` tables (its objective is used unless
    ``objective`` is given).

    ``progress``: True shows a progress bar on a terminal, else a line every
    ``progress_every`` seconds on stderr; or a callable that gets each ``Snapshot``.
    The summary counts trials, distinct molecules decoded, scored, feasible and repeats,
    and says why the run ended (``stop_reason``: budget, stop_requested, trial_cap; with
    a ``message`` when it is not the budget)."""
    if isinstance(config, dict):
        config = OptimizeConfig.model_validate(config)
    elif not isinstance(config, OptimizeConfig):
        config, from_file = load_optimize_config(config)
        objective = objective if objective is not None else from_file
    from molspace.interrupt import handle_stop_signals, interruptible, stop_requested
    from molspace.optimization.outputs import write_outputs
    from molspace.optimization.storage import make_storage, storage_url
    from molspace.oracles import top_k_auc

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(config.storage, out)
    config = config.model_copy(update={"storage": url})
    with handle_stop_signals(), interruptible():  # nothing to save yet
        scorer = build_scorer(config.scorer_spec(objective))
        reference, novelty_note = _novelty_reference(config)
    start = time.perf_counter()
    stopped = False
    report = ProgressReport(every=progress_every) if progress is True else None
    on_progress: Callable[[Snapshot], None] | None = None
    if report is not None:
        on_progress = report
    elif callable(progress):
        on_progress = progress
    try:
        with handle_stop_signals():
            if workers > 1 or client is not None:
                with workers_client(client, workers) as client:
                    if workers <= 1:  # a given cluster: one optimization loop per Dask worker
                        workers = max(1, len(client.scheduler_info().get("workers", {})))
                    results = run_parallel(
                        config,
                        objective,
                        client,
                        out_dir=out,
                        n_workers=workers,
                        on_progress=on_progress,
                        progress_every=min(progress_every, 2.0),
                    )
                stopped = stop_requested() or any(r.get("stopped") for r in results)
                rounds = [
                    {"worker": r["worker"], **round_}
                    for r in results
                    for round_ in r["retrain_rounds"]
                ]
                import optuna

                study = optuna.load_study(study_name=config.study_name, storage=make_storage(url))
                if len(results) < workers:  # some were given up after the stop grace period:
                    settle_running(study, url, config)  # their trials are told here
            else:
                result = run_optimization(
                    config, objective, out_dir=out, scorer=scorer, on_batch=on_progress
                )
                study, stopped = result.study, result.stopped
                rounds = [{"worker": 0, **round_} for round_ in result.retrain_rounds]
    finally:
        if report is not None:
            report.close()
    records = scored_records(study)
    n_calls = len({r["smiles"] for r in records})
    counts = study_counts(study.get_trials(deepcopy=False))
    reason = "stop_requested" if stopped else "budget" if n_calls >= config.budget else "trial_cap"
    summary: dict[str, Any] = {
        "study_name": config.study_name,
        "storage": url,
        "sampler": config.sampler,
        "budget": config.budget,
        "n_trials": len(study.trials),
        "n_oracle_calls": n_calls,
        **{k: v for k, v in counts.items() if k != "n_trials"},
        "stopped": stopped,
        "stop_reason": reason,
        "max_trials": trial_cap(config),
        "seconds": round(time.perf_counter() - start, 2),
        "config": config.model_dump(mode="json"),
    }
    if reason == "trial_cap":
        summary["message"] = trial_cap_message(summary)
    if len(scorer.objective_names) == 1 and records:
        seen: dict[str, float] = {}
        for r in records:
            seen.setdefault(r["smiles"], r["values"][0])
        summary["auc_top10"] = top_k_auc(list(seen.values()), budget=config.budget)
    if study.user_attrs.get("seed_anchors"):
        summary["seed_anchors"] = list(study.user_attrs["seed_anchors"])
    trials = study.get_trials(deepcopy=False)
    summary["prefilter_rejections"] = rejection_counts(t.user_attrs.get("mol", {}) for t in trials)
    if config.retrain.every:
        summary["retrain_rounds"] = rounds
    if novelty_note is not None:
        summary["novelty"] = novelty_note
    write_outputs(
        study,
        out,
        scorer.objective_names,
        seeds=seed_smiles(config),
        novelty_reference=reference,
        summary=summary,
    )
    return summary
