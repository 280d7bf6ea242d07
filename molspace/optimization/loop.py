"""The search loop of one process: ask → decode → claim → score → tell, (retrain).

Each batch asks ``batch_size`` trials (after enqueuing children of the best molecules),
decodes their latent vectors in one call, claims the new unique molecules in the study's
oracle ledger, scores the ones this process won in one scorer call and tells every trial.
The budget counts unique scored molecules (the PMO convention); the ledger makes it exact
across re-runs and across every process sharing the storage. A stop request (SIGTERM,
SIGINT, the driver's stop event) is honoured between batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molspace.optimization.cache import OracleCache
from molspace.optimization.config import OptimizeConfig
from molspace.optimization.decoding import DecodedRow, new_molecules, prepare_rows, trial_latents
from molspace.optimization.ledger import OracleLedger
from molspace.optimization.proposals import propose_local
from molspace.optimization.retrain import Retrainer
from molspace.optimization.scoring import Constraints, Scorer
from molspace.optimization.space import LatentSearchSpace
from molspace.optimization.study import scored_records
from molspace.optimization.telling import judge, tell_trial

__all__ = ["Progress", "SearchLoop", "Timings"]


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

    def run(self, max_trials: int) -> bool:
        """Batches until the budget is scored, ``max_trials`` is reached or a stop is
        requested (returns True then). Waits while live workers hold the last claims."""
        budget, p = self.config.budget, self.progress
        wait = 0.02
        while True:
            if self.should_stop():
                return True
            if p.scored >= budget or p.n_total >= max_trials:
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
            with self.timings("tell"):
                for trial, row, zi in zip(trials, rows, z, strict=True):
                    self.tell(trial, self.outcome(row, zi, fresh, unresolved))
                    told.add(trial.number)
        except BaseException:
            self.abort(trials, told, claims)
            raise

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
        """Enqueue the batch's share of local moves around the current top molecules,
        once enough molecules are scored for the sampler to have started."""
        cfg = self.config
        warm = self.cache.n_calls >= max(cfg.batch_size, 2 * self.space.n_params)
        if not warm or not self.parents:
            return
        propose_local(self.study, self.space, self.cache, self.parents, cfg, self.rng)

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
