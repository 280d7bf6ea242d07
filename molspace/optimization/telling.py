"""Telling trials to the study: the values a molecule earns and its constraint values.

Infeasible molecules are told the penalty when the sampler cannot take constraints
(``sampler_handles_constraints``); samplers that can get the constraint values through
``Trial.set_constraint`` and the true objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from molspace.optimization.scoring import Constraints
from molspace.optimization.study import MOL_ATTR, sampler_handles_constraints

__all__ = ["judge", "tell_trial"]


def judge(
    values: tuple[float, ...],
    mol: Any,
    info: dict[str, Any],
    constraints: Constraints,
    sampler: str,
    penalty: float,
) -> tuple[tuple[float, ...], dict[str, float] | None]:
    """The values told for a scored molecule and its constraint values; records
    ``feasible``, the constraint values and the names of the violated ones in ``info``
    (the outputs list them; Optuna's own copy, ``Trial.set_constraint``, is for the
    sampler)."""
    if not constraints.active:
        return values, None
    cons = constraints.values(mol)
    info["feasible"] = bool(all(c <= 0 for c in cons.values()))
    info["constraints"] = {k: round(float(v), 4) for k, v in cons.items()}
    info["violated"] = [k for k, v in cons.items() if v > 0]
    if not info["feasible"] and not sampler_handles_constraints(sampler):
        values = tuple(penalty for _ in values)
    return values, cons


def tell_trial(
    study: Any,
    trial: Any,
    info: dict[str, Any],
    values: Sequence[float] | None,
    cons: dict[str, float] | None,
    constraints: Constraints,
    sampler: str,
) -> bool:
    """Tell one trial (FAIL when ``values`` is None); False if another process had already
    settled it (it took this worker for dead)."""
    import optuna

    try:
        if constraints.active and sampler_handles_constraints(sampler):
            for key in constraints.names:
                trial.set_constraint(key, cons[key] if cons is not None else 1.0)
        trial.set_user_attr(MOL_ATTR, info)
        if values is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        else:
            study.tell(trial, list(values), skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True
