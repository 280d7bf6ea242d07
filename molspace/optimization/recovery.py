"""Trials a killed worker left RUNNING: told when the ledger holds their molecule's score,
failed otherwise; and the wait, at the end of a run, for live workers' last tells.

Optuna has no notion of a dead worker: its RUNNING trials stay RUNNING forever. The
oracle ledger knows which worker asked each trial and when it was last heard from, so any
worker can settle another's orphans (``stale_after`` seconds without a heartbeat).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from molspace.optimization.config import OptimizeConfig
from molspace.optimization.ledger import LedgerRow
from molspace.optimization.loop import SearchLoop
from molspace.optimization.scoring import Constraints
from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.study import Z_ATTR
from molspace.optimization.telling import judge, tell_trial

__all__ = ["drain", "recover", "settle_running"]


def _running(study: Any) -> list[Any]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))


def drain(loop: SearchLoop) -> None:
    """Wait until the trials of other workers whose molecules the ledger already scored
    are told (moments: they only tell), so that outputs written after this run hold every
    scored molecule. A dead worker's such trials are told by ``recover``."""

    def running() -> set[int]:
        return {t.number for t in _running(loop.study)}

    waiting = set(loop.ledger.scored_trials(sorted(running())))
    deadline = time.monotonic() + loop.config.stale_after + 10
    wait = 0.02
    while waiting and time.monotonic() < deadline:
        time.sleep(wait)
        wait = min(2 * wait, 1.0)
        recover(loop)
        waiting &= running()


def recover(loop: SearchLoop) -> int:
    """Settle the RUNNING trials no live worker holds (their worker was killed): tell the
    ones whose molecule the ledger has scored, fail the others. Returns how many."""
    import optuna
    from rdkit import Chem

    running = _running(loop.study)
    if not running:
        return 0
    starts = {t.number: t.datetime_start.timestamp() if t.datetime_start else 0.0 for t in running}
    numbers, scored = loop.ledger.orphans(starts)
    by_number = {t.number: t for t in running}
    settled = 0
    for number in numbers:
        frozen = by_number[number]
        # a Trial handle on a trial another process asked (Optuna has no public id getter)
        trial = optuna.trial.Trial(loop.study, frozen._trial_id)
        info: dict[str, Any] = {"smiles": None, "worker": None, "recovered_by": loop.worker_id}
        z = _latent_of(frozen, loop.space)
        if z is not None:
            info["z"] = z
        row: LedgerRow | None = scored.get(number)
        values: tuple[float, ...] | None = None
        cons = None
        if row is None or row.values is None:
            info["status"] = "abandoned"
            info["reason"] = "its worker stopped before telling it"
        else:
            entry = loop.cache.add(row.smiles, row.values, row.components)
            info.update(smiles=row.smiles, status="scored", components=entry.components)
            values, cons = loop.judge(entry.values, Chem.MolFromSmiles(row.smiles), info)
        settled += loop.tell(trial, (info, values, cons))
    return settled


def settle_running(study: Any, storage_url: str, config: OptimizeConfig) -> int:
    """Tell every trial still RUNNING, whoever asked it: completed with its molecule's
    score when the ledger holds one, failed otherwise. Returns how many.

    For the driver of a parallel run that stopped (budget reached, SIGTERM) and gave up
    on workers still busy after the grace period: their processes are gone or will
    only find their trials told (``skip_if_finished``), so no trial stays RUNNING for
    the next run or for a reader of the storage."""
    import optuna
    from rdkit import Chem

    from molspace.optimization.ledger import open_ledger

    running = _running(study)
    if not running:
        return 0
    ledger = open_ledger(
        storage_url, study.study_name, study._study_id, config.budget, config.stale_after
    )
    try:
        ledger.abandon_claims()  # first: a score that arrives later is refused, not lost
        scored = ledger.scored_trials([t.number for t in running])
    finally:
        ledger.close()
    stored = study.user_attrs.get("space")
    space = LatentSearchSpace.from_json(stored) if stored else None
    constraints = Constraints(config.constraints)
    settled = 0
    for frozen in running:
        trial = optuna.trial.Trial(study, frozen._trial_id)
        info: dict[str, Any] = {"smiles": None, "worker": None, "recovered_by": "driver"}
        z = _latent_of(frozen, space) if space is not None else frozen.user_attrs.get(Z_ATTR)
        if z is not None:
            info["z"] = z
        row = scored.get(frozen.number)
        values: tuple[float, ...] | None = None
        cons = None
        if row is None or row.values is None:
            info["status"] = "abandoned"
            info["reason"] = "the run stopped before its worker told it"
        else:
            info.update(smiles=row.smiles, status="scored", components=row.components or {})
            mol = Chem.MolFromSmiles(row.smiles)
            values, cons = judge(row.values, mol, info, constraints, config.sampler, config.penalty)
        settled += tell_trial(study, trial, info, values, cons, constraints, config.sampler)
    return settled


def _latent_of(frozen: Any, space: LatentSearchSpace) -> list[float] | None:
    """The latent vector an orphaned trial stood for, when it can be known."""
    exact: list[float] | None = frozen.user_attrs.get(Z_ATTR)
    if exact is not None:
        return exact
    names = space.param_names
    if all(n in frozen.params for n in names):
        xi = np.array([[frozen.params[n] for n in names]])
        rounded: list[float] = np.round(space.to_latent(xi)[0], 5).tolist()
        return rounded
    return None
