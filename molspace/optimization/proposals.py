"""Local moves in the full latent space around the best molecules found so far.

Optuna searches a low-dimensional space (a whitened PCA subspace by default) because
that keeps its samplers cheap and sample-efficient; but a molecule's own latent vector
almost never lies in that subspace. Projected onto a 12-dim PCA space, the top hits of a
MOSES screen decode to none of themselves (measured with the shipped model: 0 of 50,
mean objective 0.07 against 0.25 for their full-vector decodes). So the local search
works on full latent vectors: each scored molecule keeps the ``z`` it was decoded from
(an encoded seed keeps its exact encoding), and children are that ``z`` plus Gaussian
noise scaled per dimension by the spread of encoded molecules, or a blend of two
parents. The step size is drawn log-uniformly around ``sigma`` for every child, so one
batch probes both near neighbours and bolder jumps without a schedule to tune.

``propose_local`` is what the search loop calls every batch. Two options sharpen it
(both measured on PMO's tuning tasks, ``benchmarks/README.md``): ``local_adapt`` scales
``sigma`` by a trust region replayed from earlier batches' successes
(``molspace.optimization.trust_region``), and ``local_screen = k`` draws ``k`` candidates
per child and keeps the one a GP surrogate on the scored latent vectors ranks best
(``molspace.optimization.surrogate``), so oracle calls go to the more promising moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molspace.optimization.trust_region import TrustRegion

__all__ = ["enqueue_children", "local_children", "local_outcomes", "propose_local"]

#: exploration weight of the surrogate's upper confidence bound, mean + KAPPA * std
KAPPA = 1.0
#: fewest scored latent vectors (of the current model) before the surrogate is used
MIN_SURROGATE_POINTS = 20


def local_children(
    parents: np.ndarray,
    scale: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    sigma: float = 0.3,
    crossover: float = 0.0,
    spread: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` children of the ranked ``parents`` (best first, ``(p, d)``); returns
    ``(children (n, d), parent index of each child (n,))``.

    Parents are taken round-robin from the best, so the best gets as many children as
    any other. ``sigma`` is the noise in units of ``scale`` (per-dimension standard
    deviation of encoded molecules); each child draws its own step from
    ``[sigma / spread, sigma * spread]`` (log-uniform). With probability ``crossover``
    a child is a BLX-0.25 blend of its parent and another parent, plus half the noise.
    """
    parents = np.atleast_2d(np.asarray(parents, dtype=float))
    if n <= 0 or len(parents) == 0:
        return np.zeros((0, parents.shape[1])), np.zeros(0, dtype=np.int64)
    d = parents.shape[1]
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (d,))
    index = np.arange(n) % len(parents)
    low, high = np.log(sigma / spread), np.log(sigma * spread)
    steps = np.exp(rng.uniform(low, high, size=(n, 1)))
    children = parents[index] + rng.normal(size=(n, d)) * scale * steps
    if crossover > 0 and len(parents) > 1:
        blend = rng.random(n) < crossover
        for i in np.flatnonzero(blend):
            other = parents[int(rng.integers(len(parents)))]
            u = rng.uniform(-0.25, 1.25, d)
            base = parents[index[i]]
            noise = rng.normal(size=d) * scale * steps[i] / 2
            children[i] = base + u * (other - base) + noise
    return children, index


def enqueue_children(
    study: Any,
    space: Any,
    ranked_parents: list[tuple[str, np.ndarray]],
    n: int,
    rng: np.random.Generator,
    *,
    sigma: float,
    crossover: float,
    screen: int = 1,
    surrogate_data: tuple[np.ndarray, np.ndarray] | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
) -> int:
    """Enqueue ``n`` children of ``ranked_parents`` ((smiles, exact z), best first) as the
    next trials of ``study``: each with its own full vector (decoded as it is) and its
    projection into ``space`` (for the sampler's model). Returns how many.

    With ``screen`` > 1 and ``surrogate_data`` ((z, values) of scored molecules in the
    current latent space, at least ``MIN_SURROGATE_POINTS``), each child is the best of
    ``screen`` candidates of the same parent by the surrogate's upper confidence bound.
    ``extra_attrs`` go to every child's user attributes."""
    from molspace.optimization.study import Z_ATTR

    if n <= 0 or not ranked_parents:
        return 0
    parents = np.stack([z for _, z in ranked_parents])
    scale = space.dimension_scale
    use_surrogate = (
        screen > 1 and surrogate_data is not None and len(surrogate_data[1]) >= MIN_SURROGATE_POINTS
    )
    if use_surrogate:
        from molspace.optimization.surrogate import LatentSurrogate, best_of

        assert surrogate_data is not None
        slots = np.arange(n) % len(parents)  # the round-robin of parents, kept per slot
        candidates, slot = local_children(
            parents[slots], scale, n * screen, rng, sigma=sigma, crossover=crossover
        )
        model = LatentSurrogate(seed=int(rng.integers(2**31))).fit(*surrogate_data, scale)
        mean, std = model.predict(candidates)
        keep = best_of(mean + KAPPA * std, n)
        children, index = candidates[keep], slots[slot[keep]]
    else:
        children, index = local_children(parents, scale, n, rng, sigma=sigma, crossover=crossover)
    params = space.params_of(space.from_latent(children))
    for child, i, p in zip(children, index, params, strict=True):
        attrs = {
            **(extra_attrs or {}),
            "local_parent": ranked_parents[int(i)][0],
            Z_ATTR: np.round(child, 5).tolist(),
        }
        study.enqueue_trial(p, user_attrs=attrs)
    return len(children)


def local_outcomes(study: Any) -> list[bool]:
    """Whether each earlier batch of children (oldest first, by its first trial) produced
    a new molecule scoring above the bar recorded when it was proposed. Batches proposed
    without ``local_adapt`` carry no bar and are not counted."""
    import optuna

    from molspace.optimization.study import MOL_ATTR

    first: dict[int, int] = {}
    success: dict[int, bool] = {}
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        batch = t.user_attrs.get("local_batch")
        if batch is None:
            continue
        first[batch] = min(first.get(batch, t.number), t.number)
        mol = t.user_attrs.get(MOL_ATTR) or {}
        new = mol.get("status") == "scored" and t.values is not None
        won = new and t.values[0] > t.user_attrs.get("local_bar", np.inf)
        success[batch] = success.get(batch, False) or bool(won)
    return [success[b] for b in sorted(first, key=first.__getitem__)]


def propose_local(
    study: Any,
    space: Any,
    cache: Any,
    parents: Mapping[str, np.ndarray],
    config: Any,
    rng: np.random.Generator,
    *,
    ranked: Sequence[tuple[str, np.ndarray]] | None = None,
    n: int | None = None,
    sigma: float | None = None,
) -> int:
    """The local moves of one batch, enqueued on ``study``: ``n`` (default
    ``round(batch_size * local_fraction)``) children of ``ranked`` ((smiles, exact z), best
    first; default the ``local_top`` best scored molecules whose exact latent vector is
    known, ``parents``, in the current model's latent space) with step ``sigma`` (default
    ``local_sigma``). ``cache`` holds the scored values, ``config`` is the
    ``OptimizeConfig``. The search loop passes its own choice (feasible parents, a wider
    pool and larger steps when it changes course). Returns how many."""
    if ranked is None:
        scored = [e for e in cache.entries() if e.smiles in parents and e.values]
        best = sorted(scored, key=lambda e: e.values[0], reverse=True)[: config.local_top]
        ranked = [(e.smiles, parents[e.smiles]) for e in best]
    n = round(config.batch_size * config.local_fraction) if n is None else n
    step = config.local_sigma if sigma is None else sigma
    attrs = None
    if config.local_adapt and ranked:
        step *= TrustRegion().factor(local_outcomes(study))
        last = cache.get(ranked[-1][0])
        bar = last.values[0] if last is not None and last.values else -np.inf
        attrs = {"local_batch": int(rng.integers(2**62)), "local_bar": bar}
    data = None
    if config.local_screen > 1:
        ordered = [e for e in (cache.get(s) for s in parents) if e is not None and e.values]
        data = (
            np.stack([parents[e.smiles] for e in ordered]) if ordered else np.zeros((0, 1)),
            np.array([e.values[0] for e in ordered], dtype=float),
        )
    return enqueue_children(
        study,
        space,
        list(ranked),
        n,
        rng,
        sigma=step,
        crossover=config.local_crossover,
        screen=config.local_screen,
        surrogate_data=data,
        extra_attrs=attrs,
    )
