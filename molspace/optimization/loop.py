"""The search loop of one process: ask → decode → claim → score → tell, (retrain).

Each batch asks ``batch_size`` trials (after enqueuing children of the best molecules),
decodes their latent vectors in one call, claims the new unique molecules in the study's
oracle ledger, scores the ones this process won in one scorer call and tells every trial.
The budget counts unique scored molecules (the PMO convention); the ledger makes it exact
across re-runs and across every process sharing the storage. A stop request (SIGTERM,
SIGINT, the driver's stop event) is honoured between batches.

Local moves start from feasible parents only (the least infeasible ones while none is
feasible), so a constrained search stays in its feasible region. When most recent trials
decode molecules already known, the loop changes course (``molspace.optimization.course``);
past ``max_trials`` it stops and says why (``stop_reason``).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molspace.optimization.cache import OracleCache
from molspace.optimization.config import OptimizeConfig
from molspace.optimization.course import STALL_TOP, Course, Plan
from molspace.optimization.decoding import DecodedRow, new_molecules, prepare_rows, trial_latents
from molspace.optimization.ledger import OracleLedger
from molspace.optimization.progress import Snapshot
from molspace.optimization.proposals import enqueue_children, propose_local
from molspace.optimization.retrain import Retrainer
from molspace.optimization.scoring import Constraints, Scorer
from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.study import Z_ATTR, scored_records
from molspace.optimization.telling import judge, tell_trial

__all__ = ["STOP_REASONS", "Progress", "SearchLoop", "Timings"]

#: Why a loop returned: its budget scored, a stop request, or its trial cap.
STOP_REASONS = ("budget", "stop_requested", "trial_cap")


class Timings(dict[str, float]):
    """Seconds spent per stage (ask, decode, ledger, score, tell, retrain)."""

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[key] = self.get(key, 0.0) + time.perf_counter() - start


@dataclass
class Progress:
    """This worker's counts and its view of the study's."""

    n_trials: int = 0  # trials this worker told
    n_new: int = 0  # molecules this worker scored
    n_total: int = 0  # trials in the study (numbers are contiguous)
    scored: int = 0  # molecules scored in the study, from the ledger's last answer
    held: int = 0  # ... plus molecules claimed by live workers and not scored yet
    n_repeats: int = 0  # trials this worker told a molecule known before the trial
    decoded: set[str] = field(default_factory=set)  # distinct valid molecules seen

    def update(self, counts: Any) -> None:
        self.held, self.scored = counts.held, counts.scored


@dataclass
class SearchLoop:
    study: Any
    space: LatentSearchSpace
    latent: Any
    scorer: Scorer
    constraints: Constraints
    cache: OracleCache
    config: OptimizeConfig
    ledger: OracleLedger
    should_stop: Callable[[], bool]
    worker_id: int = 0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    progress: Progress = field(default_factory=Progress)
    retrainer: Retrainer | None = None
    parents: dict[str, np.ndarray] = field(default_factory=dict)  # molecule -> its exact z
    timings: Timings = field(default_factory=Timings)
    # molecule -> summed constraint violation (0: feasible), for every molecule told here
    violation: dict[str, float] = field(default_factory=dict)
    seeds: dict[str, np.ndarray] = field(default_factory=dict)  # seed -> its encoding
    on_batch: Callable[[Snapshot], None] | None = None
    stop_reason: str = ""  # one of STOP_REASONS once run() returned
    course: Course = field(init=False)  # repeats over the last two batches

    def __post_init__(self) -> None:
        window = max(2 * self.config.batch_size, 16)
        self.course = Course(
            window=window,
            threshold=self.config.repeat_threshold,
            stall_calls=self.config.stall_calls,
        )

    def run(self, max_trials: int) -> bool:
        """Batches until the budget is scored, ``max_trials`` is reached or a stop is
        requested (returns True then). Waits while live workers hold the last claims."""
        budget, p = self.config.budget, self.progress
        wait = 0.02
        if self.on_batch is not None:  # where a resumed run starts from
            self.on_batch(self.snapshot())
        while True:
            if self.should_stop():
                self.stop_reason = "stop_requested"
                return True
            if p.scored >= budget:
                self.stop_reason = "budget"
                return False
            if p.n_total >= max_trials:
                self.stop_reason = "trial_cap"
                return False
            if p.held >= budget:  # the rest is claimed: wait for its scores or expiry
                p.update(self.ledger.status())
                if p.held >= budget and p.scored < budget:
                    time.sleep(wait)
                    wait = min(2 * wait, 0.5)
                continue
            wait = 0.02
            self.batch()

    def batch(self) -> None:
        """One cycle of the search."""
        self.retrain_if_due()
        self.propose_children()
        trials = self.ask()
        told: set[int] = set()
        claims: list[str] = []
        try:
            with self.timings("ledger"):
                self.ledger.in_flight([t.number for t in trials])
            z, rows = self.decode(trials)
            wanted = new_molecules(trials, rows, self.cache)
            fresh, unresolved = self.claim_and_score(wanted, claims)
            repeats = []
            with self.timings("tell"):
                for trial, row, zi in zip(trials, rows, z, strict=True):
                    told_ = self.outcome(row, zi, fresh, unresolved)
                    repeats.append(told_[0].get("status") == "cached")
                    self.tell(trial, told_)
                    told.add(trial.number)
        except BaseException:
            self.abort(trials, told, claims)
            raise
        self.progress.n_repeats += sum(repeats)
        self.course.observe(repeats)
        if self.config.stall_calls:
            self.course.observe_top(self.progress.scored, self.top_mean())
        if self.on_batch is not None:
            self.on_batch(self.snapshot())

    def snapshot(self) -> Snapshot:
        """This worker's reading of the search (the scored count is study-wide)."""
        feasible = self.feasible_entries()
        return Snapshot(
            scored=self.progress.scored,
            budget=self.config.budget,
            trials=self.progress.n_total,
            feasible=len(feasible),
            best=max((e.values[0] for e in feasible), default=None),
            repeat_fraction=self.course.repeat_fraction,
            distinct=len(self.progress.decoded),
            level=self.course.current_level,
        )

    def feasible_entries(self) -> list[Any]:
        """Scored molecules that violate no constraint (all of them without constraints)."""
        return [e for e in self.cache.entries() if self.violation.get(e.smiles, 0.0) == 0]

    def top_mean(self) -> float:
        """Mean value of the best ``STALL_TOP`` feasible molecules scored so far."""
        values = [e.values[0] for e in self.feasible_entries() if e.values]
        top = heapq.nlargest(STALL_TOP, values)
        return float(np.mean(top)) if top else float("-inf")

    # --- the stages, in the order a batch runs them ---------------------------------

    def retrain_if_due(self) -> None:
        """Weighted retraining every ``retrain.every`` molecules scored in the study (by
        any worker): fine-tune on all of them and re-encode the best as parents."""
        n = max(self.cache.n_calls, self.progress.scored)
        if self.retrainer is None or not self.retrainer.due(n):
            return
        with self.timings("retrain"):
            if self.progress.scored > self.cache.n_calls:  # other workers' molecules
                for record in scored_records(self.study):
                    self.cache.add(record["smiles"], record["values"], record["components"])
            seed = int(self.rng.integers(2**31))
            self.parents = self.retrainer.run(self.latent, self.cache.entries(), n, seed)

    def propose_children(self) -> None:
        """Enqueue the batch's share of local moves around the current top (feasible)
        molecules, once enough molecules are scored for the sampler to have started or
        as soon as the search repeats itself; and random restarts when it keeps doing so."""
        cfg = self.config
        plan = self.course.plan(cfg.batch_size, cfg.local_fraction, cfg.local_sigma, cfg.local_top)
        if plan.n_restart:
            self.enqueue_restarts(plan)
        # the sampler's random start-up phase, at most a quarter of the budget; one batch
        # when constrained (the feasible region is found from the least infeasible)
        startup = min(
            max(cfg.batch_size, 2 * self.space.n_params), max(cfg.batch_size, cfg.budget // 4)
        )
        if self.constraints.active:
            startup = min(cfg.batch_size, max(1, cfg.budget // 4))
        warm = self.cache.n_calls >= startup or plan.level > 0
        pool = self.parent_pool()
        if not warm or not pool:
            return
        top = pool[: cfg.local_top]
        if plan.wide and len(pool) > cfg.local_top:  # the best half, and others at random
            half = math.ceil(cfg.local_top / 2)
            others = pool[half : plan.pool or None]
            pick = self.rng.choice(len(others), size=cfg.local_top - half, replace=False)
            top = pool[:half] + [others[int(i)] for i in sorted(pick)]
        propose_local(
            self.study,
            self.space,
            self.cache,
            self.parents,
            cfg,
            self.rng,
            ranked=top,
            n=plan.n_local,
            sigma=plan.sigma,
        )

    def parent_pool(self) -> list[tuple[str, np.ndarray]]:
        """Molecules with a known latent vector, best first: the feasible ones when any is
        (all when there are no constraints), else the least infeasible first."""
        entries = [e for e in self.cache.entries() if e.smiles in self.parents]
        if self.constraints.active:
            feasible = [e for e in entries if self.violation.get(e.smiles) == 0.0]
            if feasible:
                entries = feasible
            else:
                entries = [e for e in entries if e.smiles in self.violation]
                entries.sort(key=lambda e: (self.violation[e.smiles], -e.values[0]))
                return [(e.smiles, self.parents[e.smiles]) for e in entries]
        entries.sort(key=lambda e: e.values[0], reverse=True)
        return [(e.smiles, self.parents[e.smiles]) for e in entries]

    def enqueue_restarts(self, plan: Plan) -> None:
        """Random restarts: children of the seeds with the plan's step (half of them when
        there are seeds), the rest drawn uniformly from the search space."""
        n = plan.n_restart
        if self.seeds:
            seeds = list(self.seeds.items())
            n_seed = n // 2 if n > 1 else n
            enqueue_children(
                self.study, self.space, seeds, n_seed, self.rng, sigma=plan.sigma, crossover=0.0
            )
            n -= n_seed
        if n <= 0:
            return
        bound = self.space.bound
        x = self.rng.uniform(-bound, bound, size=(n, self.space.n_params))
        z = self.space.to_latent(x)
        for params, zi in zip(self.space.params_of(x), z, strict=True):
            attrs = {"restart": "space", Z_ATTR: np.round(zi, 5).tolist()}
            self.study.enqueue_trial(params, user_attrs=attrs)

    def ask(self) -> list[Any]:
        with self.timings("ask"):
            dists = self.space.distributions()
            trials = [self.study.ask(dists) for _ in range(self.config.batch_size)]
        self.progress.n_total = max(self.progress.n_total, max(t.number for t in trials) + 1)
        return trials

    def decode(self, trials: list[Any]) -> tuple[np.ndarray, list[DecodedRow]]:
        """Latent vectors and canonical molecules (with a reason) of a batch."""
        temperature = self.config.temperature
        z = trial_latents(trials, self.space)
        with self.timings("decode"):
            seed = None if temperature == 0 else int(self.rng.integers(2**31))
            decoded = self.latent.decode(z, temperature=temperature, seed=seed)
        with self.timings("prepare"):
            rows = prepare_rows(decoded, self.constraints.degenerate)
        return z, rows

    def claim_and_score(
        self, wanted: dict[str, int], claims: list[str]
    ) -> tuple[set[str], set[str]]:
        """Claim the new molecules, score the ones won, wait for the ones other workers
        are scoring. Returns (scored here, left unresolved by a stop)."""
        fresh: set[str] = set()
        with self.timings("ledger"):
            claim = self.ledger.claim(list(wanted), wanted)
        wait = 0.02
        while True:
            for s, row in claim.known.items():
                self.cache.add(s, row.values or (), row.components)
            self.progress.update(claim.counts)
            if claim.mine:
                claims[:] = claim.mine
                fresh |= self.score(claim.mine)
                claims.clear()
            if not claim.pending:
                return fresh, set()
            if self.should_stop():
                return fresh, set(claim.pending)
            time.sleep(wait)  # another worker scores these right now: its fill is near
            wait = min(2 * wait, 0.5)
            claim = self.ledger.claim(claim.pending, wanted)

    def score(self, smiles: list[str]) -> set[str]:
        """One scorer call on molecules this worker claimed; results go to the ledger
        (for every worker) and the cache."""
        with self.timings("score"):
            results = self.scorer.score(smiles)
        scored = dict(zip(smiles, results, strict=True))
        with self.timings("ledger"):
            _, counts = self.ledger.fill(scored)
        self.progress.update(counts)
        for s, (values, comps) in scored.items():
            self.cache.add(s, values, comps)
        self.progress.n_new += len(scored)
        return set(scored)

    def outcome(
        self, row: DecodedRow, z: np.ndarray, fresh: set[str], unresolved: set[str]
    ) -> tuple[dict[str, Any], tuple[float, ...] | None, dict[str, float] | None]:
        """What a trial is told: its record, values (None: FAIL) and constraint values.
        The first trial of a molecule scored here is ``scored``, the others ``cached``."""
        s = row.smiles
        info: dict[str, Any] = {"smiles": s, "z": np.round(z, 5).tolist(), "worker": self.worker_id}
        if self.retrainer is not None:  # z belongs to the model after this many rounds
            info["model_round"] = len(self.retrainer.rounds)
        if row.reason != "invalid":
            self.progress.decoded.add(s)
        if row.reason is not None:
            info["status"] = "invalid" if row.reason == "invalid" else "degenerate"
            info["reason"] = row.reason
            return info, tuple(self.config.penalty for _ in self.scorer.objective_names), None
        entry = self.cache.get(s)
        if entry is None:  # no budget left, or a stop came while another worker scored it
            info["status"] = "unresolved" if s in unresolved else "over_budget"
            return info, None, None
        info["status"] = "scored" if s in fresh else "cached"
        fresh.discard(s)
        info["components"] = entry.components
        self.parents.setdefault(s, z)
        values, cons = self.judge(entry.values, row.mol, info)
        if cons is not None:
            self.violation[s] = sum(max(v, 0.0) for v in cons.values())
        return info, values, cons

    def judge(
        self, values: tuple[float, ...], mol: Any, info: dict[str, Any]
    ) -> tuple[tuple[float, ...], dict[str, float] | None]:
        cfg = self.config
        return judge(values, mol, info, self.constraints, cfg.sampler, cfg.penalty)

    def tell(
        self,
        trial: Any,
        told: tuple[dict[str, Any], tuple[float, ...] | None, dict[str, float] | None],
    ) -> bool:
        info, values, cons = told
        ok = tell_trial(
            self.study, trial, info, values, cons, self.constraints, self.config.sampler
        )
        self.progress.n_trials += ok
        return ok

    def abort(self, trials: list[Any], told: set[int], claims: list[str]) -> None:
        """A failed batch (scorer error, second Ctrl-C) gives back its claims and fails its
        trials, so nothing is left RUNNING or holding budget; errors here are secondary."""
        import optuna

        try:
            self.ledger.release(claims)
            for trial in trials:
                if trial.number not in told:
                    info = {"smiles": None, "status": "error", "worker": self.worker_id}
                    self.tell(trial, (info, None, None))
        except Exception:
            optuna.logging.get_logger(__name__).warning("could not fail the aborted batch")
