"""Optuna search over the VAE's latent space: propose z, decode, score once, tell.

The loop is batched: ask ``batch_size`` trials, decode their latent vectors in one batched
decode, canonicalize, drop degenerate molecules, claim the new unique molecules in the
study's oracle ledger (``molspace.oracle_ledger``), score the ones this process won in one
scorer call and tell every trial. The budget counts unique scored molecules (the PMO
convention); the ledger makes it exact across re-runs and across every process sharing
the storage (Dask workers or separate ``molspace optimize`` runs): no molecule is scored
twice and never more than the budget. SIGTERM/SIGINT (and, on Dask workers, the driver's
stop event) finish the current batch, tell it, and stop cleanly (``molspace.interrupt``);
RUNNING trials left by a killed worker are told (scored) or failed on the next start.

Public API: ``OptimizeConfig`` (the ``[optimize]`` TOML table), ``run_optimization`` (one
process), ``run_parallel`` (Dask workers on a shared storage), ``OptimizeResult``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from molspace.config import StrictModel
from molspace.errors import ConfigError, InputError
from molspace.optimize_local import local_children
from molspace.optimize_scoring import (
    Constraints,
    ConstraintSpec,
    Scorer,
    ScorerSpec,
    build_scorer,
)
from molspace.optimize_space import LatentSearchSpace, ball_space, box_space, pca_space
from molspace.oracle_cache import OracleCache
from molspace.oracle_ledger import DEFAULT_STALE_AFTER, LedgerRow, OracleLedger, open_ledger

__all__ = [
    "SAMPLERS",
    "OptimizeConfig",
    "OptimizeResult",
    "SpaceSpec",
    "make_sampler",
    "run_optimization",
    "run_parallel",
    "scored_records",
]

SAMPLERS = ("tpe", "cmaes", "gp", "nsga2", "random")
_ATTR = "mol"  # trial user attribute holding smiles/status/components/z
_Z = "z_exact"  # enqueued trials: the full latent vector to decode (seeds, local moves)


class SpaceSpec(StrictModel):
    """The latent region searched: ``box`` (prior), ``ball`` (around seeds), ``pca`` (library)."""

    kind: Literal["box", "ball", "pca"] = "pca"
    bound: float = Field(3.0, gt=0, description="box half-width / PCA bound, in std units")
    radius: float = Field(1.5, gt=0, description="ball radius in prior std units")
    n_components: int = Field(8, ge=1, le=512)
    library: str | None = Field(
        None, description="SMILES/CSV file for PCA (default: MOSES train, wherever installed)"
    )
    library_size: int = Field(2000, ge=10)


class RetrainSpec(StrictModel):
    """``[optimize.retrain]``: weighted retraining of the VAE during the search
    (``molspace.optimize_retrain``); off unless ``every`` > 0."""

    every: int = Field(0, ge=0, description="fine-tune after every this many oracle calls")
    # defaults: the setting measured on the 20 PMO tasks (benchmarks/README.md)
    steps: int = Field(25, ge=1, description="Adam steps per round")
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    k: float = Field(1e-3, gt=0, description="rank weight 1 / (k N + rank): smaller = greedier")
    beta: float | None = Field(None, ge=0, description="KL weight (None: the bundle's own)")
    free_bits: float | None = Field(None, ge=0, description="None: the bundle's own")
    reencode: int = Field(200, ge=1, description="best molecules re-encoded after a round")


class OptimizeConfig(StrictModel):
    """Everything an optimization run needs except the objective table (``[objective]``)."""

    model: str | None = Field(None, description="model bundle directory (None = shipped)")
    pmo: str | None = Field(None, description="score with a PMO/GuacaMol task by name")
    plugin: str | None = Field(None, description="module:function scoring a list of SMILES")
    multi_objective: bool = False
    sampler: Literal["tpe", "cmaes", "gp", "nsga2", "random"] = "tpe"
    budget: int = Field(1000, ge=1, description="unique molecules scored (oracle calls)")
    max_trials: int | None = Field(
        None, ge=1, description="cap on trials (default 10 x budget + 10 batches)"
    )
    batch_size: int = Field(32, ge=1, le=4096)
    seed: int = 0
    study_name: str = "molspace"
    storage: str | None = None
    seeds: list[str] = Field(default_factory=list, description="SMILES enqueued as first trials")
    seed_hits: str | None = Field(None, description="Parquet/CSV of screen hits to seed from")
    top_hits: int = Field(20, ge=0)
    local_fraction: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="share of a batch spent perturbing the current top molecules",
    )
    local_sigma: float = Field(
        0.3,
        gt=0,
        description="local step in full latent space, in units of the encoded molecules' "
        "spread per dimension (each child draws from sigma/2 .. 2 sigma)",
    )
    local_top: int = Field(10, ge=1)
    local_crossover: float = Field(
        0.0, ge=0.0, le=1.0, description="share of local moves that blend two top molecules"
    )
    temperature: float = Field(0.0, ge=0.0)
    penalty: float = Field(0.0, description="value told for invalid/degenerate/infeasible")
    space: SpaceSpec = Field(default_factory=SpaceSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    constraints: ConstraintSpec = Field(default_factory=ConstraintSpec)
    novelty_reference: str | None = Field(
        None,
        description="training set for novelty (None = MOSES train, skipped if not installed; "
        "'' = skip)",
    )
    stale_after: float = Field(
        DEFAULT_STALE_AFTER,
        gt=0,
        description="seconds without a heartbeat after which a worker on another machine "
        "counts as dead: its unscored claims and RUNNING trials are freed",
    )

    @model_validator(mode="after")
    def _retrain_needs_one_objective(self) -> OptimizeConfig:
        if self.retrain.every and self.multi_objective:
            raise ValueError("retrain.every needs a single objective to rank molecules by")
        return self

    def scorer_spec(self, objective: dict[str, Any] | None) -> ScorerSpec:
        try:
            return ScorerSpec(
                pmo=self.pmo,
                plugin=self.plugin,
                objective=objective,
                multi_objective=self.multi_objective,
            )
        except ValueError:
            raise ConfigError(
                "give exactly one scorer: [objective], optimize.pmo or optimize.plugin"
            ) from None


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
    overhead_seconds: dict[str, float] = field(default_factory=dict)
    retrain_rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.n_calls >= self.budget


# --- samplers and study ---------------------------------------------------------------


def make_sampler(
    name: str, seed: int, n_params: int, batch_size: int, constrained: bool, n_objectives: int
) -> Any:
    """An Optuna sampler by name; constraints go to the samplers that support them."""
    import optuna

    del constrained  # constraints reach the samplers through Trial.set_constraint
    if n_objectives > 1 and name not in ("nsga2", "tpe", "random"):
        raise ConfigError(f"sampler {name!r} is single-objective; use nsga2 or tpe")
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            constant_liar=batch_size > 1,
            n_startup_trials=max(10, min(100, 2 * n_params)),
        )
    if name == "cmaes":
        import importlib.util

        if importlib.util.find_spec("cmaes") is None:
            raise ConfigError("sampler 'cmaes' needs the 'cmaes' package (pip install cmaes)")
        return optuna.samplers.CmaEsSampler(
            seed=seed,
            popsize=max(batch_size, 4),
            n_startup_trials=0,
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(batch_size, 8))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def _sampler_handles_constraints(name: str) -> bool:
    return name in ("tpe", "gp", "nsga2")


def scored_records(study: Any) -> list[dict[str, Any]]:
    """Scored molecules of a study in oracle-call order (trial number), first score of each."""
    import optuna

    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        mol = t.user_attrs.get(_ATTR)
        if mol and mol.get("status") == "scored":
            out.append(
                {
                    "smiles": mol["smiles"],
                    "values": list(t.values),
                    "trial": t.number,
                    "components": mol.get("components", {}),
                }
            )
    return out


def _load_study(config: OptimizeConfig, storage_url: str, directions: Sequence[str]) -> Any:
    import optuna

    from molspace.optimize_storage import make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # per-trial fallback notes are noise
    storage = make_storage(storage_url)
    n_params_hint = config.space.n_components if config.space.kind == "pca" else 64
    sampler = make_sampler(
        config.sampler,
        config.seed,
        n_params_hint,
        config.batch_size,
        _sampler_handles_constraints(config.sampler),
        len(directions),
    )
    try:
        study = optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            sampler=sampler,
            directions=list(directions),
            load_if_exists=True,
        )
    except ValueError as exc:
        raise ConfigError(f"study {config.study_name!r}: {exc}") from None
    if [d.name.lower() for d in study.directions] != list(directions):
        raise ConfigError(
            f"study {config.study_name!r} in {storage_url} has directions "
            f"{[d.name.lower() for d in study.directions]}, this run needs {list(directions)}"
        )
    return study


# --- seeds and the search space --------------------------------------------------------


def _seed_smiles(config: OptimizeConfig) -> list[str]:
    smiles = list(config.seeds)
    if config.seed_hits:
        smiles += _top_hits(config.seed_hits, config.top_hits)
    return smiles


def _top_hits(path: str, n: int) -> list[str]:
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: seed hits file not found")
    try:
        table = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    except Exception as exc:
        raise InputError(f"{path}: cannot read seed hits: {exc}") from None
    if "smiles" not in table.columns:
        raise InputError(f"{path}: no 'smiles' column (columns: {', '.join(table.columns)})")
    if "status" in table.columns:
        table = table[table["status"].astype(str) == "ok"]
    if "score" in table.columns:
        table = table.sort_values("score", ascending=False, kind="stable")
    return [str(s) for s in table["smiles"].head(n)]


def _library_latents(latent: Any, spec: SpaceSpec, seed: int) -> np.ndarray:
    """Encode a library sample for PCA: the user's file or a MOSES-train sample."""
    import pandas as pd

    if spec.library:
        path = spec.library
    else:  # the MOSES training set wherever it is installed, not relative to the CWD
        from molspace.metrics.reference import moses_dir

        path = str(moses_dir() / "train.csv.gz")
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: PCA library not found")
    if file.suffix == ".smi" or file.name.endswith(".smi.gz"):
        table = pd.read_csv(file, sep=r"\s+", header=None, usecols=[0], names=["smiles"])
    else:
        table = pd.read_csv(file)
        column = next((c for c in table.columns if c.lower() == "smiles"), None)
        if column is None:
            raise InputError(f"{path}: no SMILES column")
        table = table.rename(columns={column: "smiles"})
    n = min(spec.library_size, len(table))
    sample = table.sample(n=n, random_state=seed)["smiles"].astype(str).tolist()
    encoded = latent.encode_table(
        pd.DataFrame(
            {
                "source": path,
                "row": np.arange(1, n + 1),
                "id": [str(i) for i in range(n)],
                "smiles": sample,
            }
        )
    )
    if len(encoded.latent) < 2:
        raise InputError(f"{path}: fewer than two molecules could be encoded for PCA")
    return np.asarray(encoded.latent)


def _build_space(
    config: OptimizeConfig, latent: Any, seed_latents: np.ndarray | None
) -> LatentSearchSpace:
    spec = config.space
    if spec.kind == "box":
        return box_space(latent.latent_dim, spec.bound)
    if spec.kind == "ball":
        if seed_latents is None or len(seed_latents) == 0:
            raise ConfigError("space.kind = 'ball' needs seed molecules (seeds or seed_hits)")
        return ball_space(seed_latents, spec.radius)
    return pca_space(_library_latents(latent, spec, config.seed), spec.n_components, spec.bound)


def _resolve_space(
    study: Any,
    config: OptimizeConfig,
    latent: Any,
    seeds: list[str],
    ledger: OracleLedger | None = None,
) -> tuple[LatentSearchSpace, np.ndarray | None]:
    """The study's search space: the stored one, else built here and stored with the
    seeds. With a ledger, processes creating the study at the same moment (whose spaces
    may differ: another seed, another PCA sample) all adopt the first one settled, and
    only its creator enqueues the seeds."""
    seed_latents = latent.encode(seeds) if seeds else None
    stored = study.user_attrs.get("space")
    if stored is not None:
        return LatentSearchSpace.from_json(stored), seed_latents
    space = _build_space(config, latent, seed_latents)
    if ledger is not None:
        settled = ledger.settle("space", space.to_json())
        if settled != space.to_json():  # another process created the study first
            return LatentSearchSpace.from_json(settled), seed_latents
    study.set_user_attr("space", space.to_json())
    study.set_user_attr("budget", config.budget)
    study.set_user_attr("sampler", config.sampler)
    if seeds and seed_latents is not None:
        x = space.from_latent(seed_latents)
        for smiles, params, z in zip(seeds, space.params_of(x), seed_latents, strict=True):
            # the exact encoding is decoded, not its projection into the search space
            exact = np.round(z, 5).tolist()
            study.enqueue_trial(params, user_attrs={"seed_smiles": smiles, _Z: exact})
    return space, seed_latents


# --- the batch loop ------------------------------------------------------------------------


@dataclass
class _Loop:
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
    timings: dict[str, float] = field(default_factory=dict)
    n_trials: int = 0
    n_new: int = 0
    n_total: int = 0  # trials in the study (this worker's view: numbers are contiguous)
    scored: int = 0  # molecules scored in the study, from the ledger's last answer
    held: int = 0  # ... plus molecules claimed by live workers and not scored yet
    _z_of: dict[str, np.ndarray] = field(default_factory=dict)  # molecule -> its latent
    next_retrain: int = 0  # fine-tune once the study holds this many scored molecules
    retrain_rounds: list[dict[str, Any]] = field(default_factory=list)
    _token_memo: Any = None  # optimize_retrain.TokenMemo: molecules tokenized once per search

    def _time(self, key: str, start: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def _count(self, counts: Any) -> None:
        self.held, self.scored = counts.held, counts.scored

    def run(self, max_trials: int) -> bool:
        """Batches until the budget is scored, ``max_trials`` is reached or a stop is
        requested (returns True then). Waits while live workers hold the last claims."""
        budget = self.config.budget
        wait = 0.02
        while True:
            if self.should_stop():
                return True
            if self.scored >= budget or self.n_total >= max_trials:
                return False
            if self.held >= budget:  # the rest is claimed: wait for its scores or expiry
                self._count(self.ledger.status())
                if self.held >= budget and self.scored < budget:
                    time.sleep(wait)
                    wait = min(2 * wait, 0.5)
                continue
            wait = 0.02
            self.batch()

    def _enqueue_local(self, n: int) -> None:
        """Children of the current top molecules, made in the full latent space from the
        exact vectors they were decoded from (``molspace.optimize_local``); each child is
        enqueued with its own vector and, for the sampler's model, its projection."""
        if n <= 0 or not self._z_of:
            return
        top = sorted(
            (e for e in self.cache.entries() if e.smiles in self._z_of),
            key=lambda e: e.values[0],
            reverse=True,
        )[: self.config.local_top]
        if not top:
            return
        parents = np.stack([self._z_of[e.smiles] for e in top])
        children, index = local_children(
            parents,
            self.space.dimension_scale,
            n,
            self.rng,
            sigma=self.config.local_sigma,
            crossover=self.config.local_crossover,
        )
        params = self.space.params_of(self.space.from_latent(children))
        for child, i, p in zip(children, index, params, strict=True):
            self.study.enqueue_trial(
                p,
                user_attrs={"local_parent": top[int(i)].smiles, _Z: np.round(child, 5).tolist()},
            )

    def _maybe_retrain(self) -> None:
        """Weighted retraining (``molspace.optimize_retrain``) each time the study has
        ``every`` more scored molecules: fine-tune this worker's copy of the VAE on every
        molecule told to the study so far (other workers' too), then re-encode the best so
        local moves start from vectors the new decoder reads. A resumed run fine-tunes at
        its first batch on everything scored before."""
        import pandas as pd

        from molspace.optimize_retrain import TokenMemo, fine_tune

        spec = self.config.retrain
        n = max(self.cache.n_calls, self.scored)  # the study's count: every worker's calls
        if spec.every <= 0 or n < max(self.next_retrain, 2):
            return
        t0 = time.perf_counter()
        if self.scored > self.cache.n_calls:  # other workers scored molecules we never saw
            for record in scored_records(self.study):
                self.cache.add(record["smiles"], record["values"], record["components"])
        entries = self.cache.entries()
        if self._token_memo is None:
            self._token_memo = TokenMemo(self.latent.vocabulary)
        kl = self.latent.metadata.get("training", {}).get("config", {}).get("kl", {})
        stats = fine_tune(
            self.latent.model,
            self.latent.vocabulary,
            [e.smiles for e in entries],
            np.array([e.values[0] for e in entries], dtype=float),
            steps=spec.steps,
            batch_size=spec.batch_size,
            learning_rate=spec.learning_rate,
            k=spec.k,
            beta=spec.beta if spec.beta is not None else float(kl.get("beta_end", 0.1)),
            free_bits=(
                spec.free_bits if spec.free_bits is not None else float(kl.get("free_bits", 0.05))
            ),
            seed=int(self.rng.integers(2**31)),
            memo=self._token_memo,
        )
        best = sorted(entries, key=lambda e: e.values[0], reverse=True)[: spec.reencode]
        table = pd.DataFrame({"smiles": [e.smiles for e in best], "row": range(len(best))})
        encoded = self.latent.encode_table(table)  # unencodable ones drop out
        rows = encoded.records["row"].to_numpy()
        self._z_of = {
            best[i].smiles: z.astype(float) for i, z in zip(rows, encoded.latent, strict=True)
        }
        self.next_retrain = (n // spec.every + 1) * spec.every
        self.retrain_rounds.append({"at_calls": n, **stats.to_dict()})
        self._time("retrain", t0)

    def batch(self) -> None:
        cfg = self.config
        self._maybe_retrain()
        warm = self.cache.n_calls >= max(cfg.batch_size, 2 * self.space.n_params)
        self._enqueue_local(round(cfg.batch_size * cfg.local_fraction) if warm else 0)
        t0 = time.perf_counter()
        dists = self.space.distributions()
        trials = [self.study.ask(dists) for _ in range(cfg.batch_size)]
        self._time("ask", t0)
        self.n_total = max(self.n_total, max(t.number for t in trials) + 1)
        told: set[int] = set()
        claims: list[str] = []
        try:
            t0 = time.perf_counter()
            self.ledger.in_flight([t.number for t in trials])
            self._time("ledger", t0)
            self._run_batch(trials, told, claims)
        except BaseException:
            self._abort(trials, told, claims)
            raise

    def _abort(self, trials: list[Any], told: set[int], claims: list[str]) -> None:
        """A failed batch (scorer error, second Ctrl-C) gives back its claims and fails its
        trials, so nothing is left RUNNING or holding budget; errors here are secondary."""
        import optuna

        try:
            self.ledger.release(claims)
            for trial in trials:
                if trial.number not in told:
                    info = {"smiles": None, "status": "error", "worker": self.worker_id}
                    self._tell(trial, info, None)
        except Exception:
            optuna.logging.get_logger(__name__).warning("could not fail the aborted batch")

    def _decode(self, trials: list[Any]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Latent vectors and canonical molecules (with a reason) of a batch."""
        from rdkit import Chem

        from molspace.chem.rdlog import capture_rdkit_log

        cfg = self.config
        names = self.space.param_names
        x = np.array([[t.params[n] for n in names] for t in trials])
        z = self.space.to_latent(x)
        for i, trial in enumerate(trials):  # seeds and local moves carry their exact vector
            exact = trial.user_attrs.get(_Z)
            if exact is not None and len(exact) == z.shape[1]:
                z[i] = exact
        t0 = time.perf_counter()
        decoded = self.latent.decode(
            z,
            temperature=cfg.temperature,
            seed=None if cfg.temperature == 0 else int(self.rng.integers(2**31)),
        )
        self._time("decode", t0)
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        with capture_rdkit_log():
            for smiles in decoded:
                mol = Chem.MolFromSmiles(smiles) if smiles else None
                canonical = Chem.MolToSmiles(mol) if mol is not None else (smiles or "")
                reason = self.constraints.degenerate(mol)
                rows.append({"smiles": canonical, "mol": mol, "reason": reason})
        self._time("prepare", t0)
        return z, rows

    def _run_batch(self, trials: list[Any], told: set[int], claims: list[str]) -> None:
        z, rows = self._decode(trials)
        wanted: dict[str, int] = {}  # new molecule -> the first trial that decoded it
        for trial, row in zip(trials, rows, strict=True):
            s = row["smiles"]
            if row["reason"] is None and s not in self.cache and s not in wanted:
                wanted[s] = trial.number
        fresh, refused, unresolved = self._score(wanted, claims)

        t0 = time.perf_counter()
        penalty = tuple(self.config.penalty for _ in self.scorer.objective_names)
        first_seen: set[str] = set()
        for trial, row, zi in zip(trials, rows, z, strict=True):
            s = row["smiles"]
            info: dict[str, Any] = {
                "smiles": s,
                "z": np.round(zi, 5).tolist(),
                "worker": self.worker_id,
            }
            if self.config.retrain.every:  # z belongs to the model after this many rounds
                info["model_round"] = len(self.retrain_rounds)
            values: tuple[float, ...] | None = penalty
            cons = None
            if row["reason"] is not None:
                info["status"] = "invalid" if row["reason"] == "invalid" else "degenerate"
                info["reason"] = row["reason"]
            else:
                entry = self.cache.get(s)
                if entry is None:  # no budget left for it, or a stop came while another
                    # worker was still scoring it
                    info["status"] = "unresolved" if s in unresolved else "over_budget"
                    values = None
                else:
                    info["status"] = "scored" if s in fresh and s not in first_seen else "cached"
                    first_seen.add(s)
                    info["components"] = entry.components
                    self._z_of.setdefault(s, zi)
                    values, cons = self._judge(entry.values, row["mol"], info)
            self._tell(trial, info, values, cons)
            told.add(trial.number)
        del refused
        self._time("tell", t0)

    def _score(
        self, wanted: dict[str, int], claims: list[str]
    ) -> tuple[set[str], set[str], set[str]]:
        """Claim the new molecules, score the ones won, wait for the ones other workers are
        scoring. Returns (scored here, refused for budget, left unresolved by a stop)."""
        fresh: set[str] = set()
        refused: set[str] = set()
        t0 = time.perf_counter()
        claim = self.ledger.claim(list(wanted), wanted)
        self._time("ledger", t0)
        wait = 0.02
        while True:
            for s, row in claim.known.items():
                self.cache.add(s, row.values or (), row.components)
            refused |= set(claim.refused)
            self._count(claim.counts)
            if claim.mine:
                claims[:] = claim.mine
                t0 = time.perf_counter()
                results = self.scorer.score(claim.mine)
                self._time("score", t0)
                scored = dict(zip(claim.mine, results, strict=True))
                t0 = time.perf_counter()
                _, counts = self.ledger.fill(scored)
                self._time("ledger", t0)
                claims.clear()
                self._count(counts)
                for s, (values, comps) in scored.items():
                    self.cache.add(s, values, comps)
                fresh |= set(scored)
                self.n_new += len(scored)
            if not claim.pending:
                return fresh, refused, set()
            if self.should_stop():
                return fresh, refused, set(claim.pending)
            time.sleep(wait)  # another worker scores these right now: its fill is near
            wait = min(2 * wait, 0.5)
            claim = self.ledger.claim(claim.pending, wanted)

    def _judge(
        self, values: tuple[float, ...], mol: Any, info: dict[str, Any]
    ) -> tuple[tuple[float, ...], dict[str, float] | None]:
        """The values told for a scored molecule and its constraint values (infeasible
        molecules get the penalty when the sampler cannot take constraints)."""
        if not self.constraints.active:
            return values, None
        cons = self.constraints.values(mol)
        info["feasible"] = bool(all(c <= 0 for c in cons.values()))
        if not info["feasible"] and not _sampler_handles_constraints(self.config.sampler):
            values = tuple(self.config.penalty for _ in values)
        return values, cons

    def _tell(
        self,
        trial: Any,
        info: dict[str, Any],
        values: Sequence[float] | None,
        cons: dict[str, float] | None = None,
    ) -> bool:
        """Tell one trial (FAIL when ``values`` is None); False if another process had
        already settled it (it took this worker for dead)."""
        import optuna

        try:
            if self.constraints.active and _sampler_handles_constraints(self.config.sampler):
                for key in self.constraints.names:
                    trial.set_constraint(key, cons[key] if cons is not None else 1.0)
            trial.set_user_attr(_ATTR, info)
            if values is None:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            else:
                self.study.tell(trial, list(values), skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        self.n_trials += 1
        return True

    def drain(self) -> None:
        """Wait until the trials of other workers whose molecules the ledger already scored
        are told (moments: they only tell), so that outputs written after this run hold
        every scored molecule. A dead worker's such trials are told by ``recover``."""
        import optuna

        def running() -> set[int]:
            states = (optuna.trial.TrialState.RUNNING,)
            return {t.number for t in self.study.get_trials(deepcopy=False, states=states)}

        waiting = set(self.ledger.scored_trials(sorted(running())))
        deadline = time.monotonic() + self.config.stale_after + 10
        wait = 0.02
        while waiting and time.monotonic() < deadline:
            time.sleep(wait)
            wait = min(2 * wait, 1.0)
            self.recover()
            waiting &= running()

    def recover(self) -> int:
        """Settle the RUNNING trials no live worker holds (their worker was killed): tell
        the ones whose molecule the ledger has scored, fail the others. Returns how many."""
        import optuna
        from rdkit import Chem

        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not running:
            return 0
        starts = {
            t.number: t.datetime_start.timestamp() if t.datetime_start else 0.0 for t in running
        }
        numbers, scored = self.ledger.orphans(starts)
        by_number = {t.number: t for t in running}
        names = self.space.param_names
        settled = 0
        for number in numbers:
            frozen = by_number[number]
            # a Trial handle on a trial another process asked (Optuna has no public id getter)
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            info: dict[str, Any] = {"smiles": None, "worker": None, "recovered_by": self.worker_id}
            if frozen.user_attrs.get(_Z) is not None:
                info["z"] = frozen.user_attrs[_Z]
            elif all(n in frozen.params for n in names):
                xi = np.array([[frozen.params[n] for n in names]])
                info["z"] = np.round(self.space.to_latent(xi)[0], 5).tolist()
            row: LedgerRow | None = scored.get(number)
            values: tuple[float, ...] | None = None
            cons = None
            if row is None or row.values is None:
                info["status"] = "abandoned"
                info["reason"] = "its worker stopped before telling it"
            else:
                entry = self.cache.add(row.smiles, row.values, row.components)
                info.update(smiles=row.smiles, status="scored", components=entry.components)
                values, cons = self._judge(entry.values, Chem.MolFromSmiles(row.smiles), info)
            settled += self._tell(trial, info, values, cons)
        return settled


def run_optimization(
    config: OptimizeConfig,
    objective: dict[str, Any] | None = None,
    *,
    out_dir: str | Path = "optimize_out",
    latent: Any = None,
    scorer: Scorer | None = None,
    worker_id: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> OptimizeResult:
    """Run (or resume) the study until ``config.budget`` unique molecules are scored.

    ``latent``/``scorer`` default to what the config names; pass them to reuse loaded
    objects (tests, benchmarks). Any number of processes may run this on one storage at
    once: the study's oracle ledger keeps the oracle calls exact across them.
    ``should_stop`` (default: SIGTERM/SIGINT seen) is polled between batches.
    """
    import optuna

    from molspace.interrupt import stop_requested
    from molspace.optimize_storage import storage_url

    start = time.perf_counter()
    if latent is None:
        from molspace.latent import LatentSpace

        latent = LatentSpace.load(config.model)
    if config.retrain.every:  # fine-tuning changes the model: never the caller's copy
        latent = _own_model_copy(latent)
    if scorer is None:
        scorer = build_scorer(config.scorer_spec(objective))
    constraints = Constraints(config.constraints)
    url = storage_url(config.storage, out_dir)
    study = _load_study(config, url, scorer.directions)
    trials = study.get_trials(deepcopy=False)
    records = scored_records(study)
    cache = OracleCache.from_records(config.budget, records)
    ledger = open_ledger(url, study.study_name, study._study_id, config.budget, config.stale_after)
    try:
        asked = sum(1 for t in trials if t.state != optuna.trial.TrialState.WAITING)
        counts = ledger.start(asked, records)
        seeds = _seed_smiles(config) if worker_id == 0 else []
        space, _ = _resolve_space(study, config, latent, seeds, ledger)
        if space.latent_dim != latent.latent_dim:
            raise ConfigError(
                f"study {config.study_name!r} was built for a {space.latent_dim}-dim latent "
                f"space; this model has {latent.latent_dim}"
            )
        loop = _Loop(
            study,
            space,
            latent,
            scorer,
            constraints,
            cache,
            config,
            ledger,
            should_stop or stop_requested,
            worker_id,
            rng=np.random.default_rng([config.seed, worker_id, len(cache)]),
            n_total=len(trials),
            scored=counts.scored,
            held=counts.held,
            next_retrain=config.retrain.every,
        )
        for t in trials:
            mol = t.user_attrs.get(_ATTR)
            if mol and mol.get("status") == "scored" and mol.get("z"):
                loop._z_of[mol["smiles"]] = np.asarray(mol["z"], dtype=float)
        loop.recover()
        max_trials = config.max_trials or 10 * config.budget + 10 * config.batch_size
        stopped = loop.run(max_trials)
        if not stopped:
            loop.drain()
        loop.recover()  # a worker that died while this one ran leaves nothing RUNNING
        n_calls = ledger.status().scored
    finally:
        ledger.close()
    return OptimizeResult(
        study=study,
        n_trials=loop.n_trials,
        n_calls=n_calls,
        n_new_calls=loop.n_new,
        budget=config.budget,
        stopped=stopped,
        seconds=time.perf_counter() - start,
        overhead_seconds=dict(loop.timings),
        retrain_rounds=list(loop.retrain_rounds),
    )


def _own_model_copy(latent: Any) -> Any:
    """The same latent space with a private copy of the model's weights."""
    import copy

    own = copy.copy(latent)
    own.model = copy.deepcopy(latent.model)
    return own


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
) -> list[dict[str, Any]]:
    """Run ``n_workers`` loops on a Dask cluster against one shared storage.

    The study and its search space are created here first (so workers agree on both),
    then every worker asks/tells against the storage. Use a journal file or an RDB URL:
    in-memory storage cannot be shared. A stop request in this process (SIGTERM/SIGINT,
    ``molspace.interrupt.request_stop``) or a failed worker sets a ``distributed.Event``
    that every worker polls between batches: each tells its batch and returns.
    """
    from distributed import Event

    from molspace.interrupt import stop_requested
    from molspace.optimize_storage import storage_url

    url = storage_url(config.storage, out_dir)
    if url == ":memory:":
        raise ConfigError("parallel workers need a shared storage, not :memory:")
    config = config.model_copy(update={"storage": url})
    # initialise the study (space + seeds) once, without scoring anything
    prepare = config.model_copy(update={"max_trials": 1})
    from molspace.latent import LatentSpace

    latent = LatentSpace.load(config.model)
    scorer = build_scorer(config.scorer_spec(objective))
    study = _load_study(prepare, url, scorer.directions)
    _resolve_space(study, prepare, latent, _seed_smiles(prepare))
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
    try:
        while not all(f.done() for f in futures):
            if stopping is None and (stop_requested() or any(f.status == "error" for f in futures)):
                event.set()  # the others finish their batch; a failure is raised below
                stopping = time.monotonic()
            late = stopping is not None and time.monotonic() - stopping > STOP_GRACE_SECONDS
            if late and stop_requested():
                # a worker still starting up (or in a slow batch): leave it; its claims
                # and RUNNING trials are recovered on resume (stale_after)
                client.cancel([f for f in futures if not f.done()])
                return client.gather([f for f in futures if f.status == "finished"])
            time.sleep(0.1)
        return client.gather(futures)
    except BaseException:
        event.set()
        raise


def load_optimize_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None
) -> tuple[OptimizeConfig, dict[str, Any] | None]:
    """``[optimize]`` (validated, with ``overrides`` applied) and the raw ``[objective]``."""
    from molspace.config import parse_config, read_toml

    data = read_toml(path) if path is not None else {}
    unknown = sorted(set(data) - {"optimize", "objective", "workflow", "cluster"})
    if unknown:
        raise ConfigError(f"{path}: unknown table [{unknown[0]}]")
    section = dict(data.get("optimize", {}))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}  # a sub-table: override only its keys
        elif value is not None:
            section[key] = value
    source = f"{path} [optimize]" if path is not None else "[optimize]"
    return parse_config(OptimizeConfig, section, source), data.get("objective")


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


@contextmanager
def _workers_client(client: Any, workers: int) -> Iterator[Any]:
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


def optimize(
    config: OptimizeConfig,
    objective: dict[str, Any] | None = None,
    *,
    out_dir: str | Path,
    workers: int = 1,
    client: Any = None,
) -> dict[str, Any]:
    """Run or resume a study (in this process, or ``workers`` Dask workers) and write the
    candidates, plots and summary under ``out_dir``; returns the summary (``stopped`` is
    True when a stop request ended the run early: re-running resumes it)."""
    from molspace.interrupt import handle_stop_signals, stop_requested
    from molspace.optimize_outputs import write_outputs
    from molspace.optimize_storage import make_storage, storage_url
    from molspace.oracles import top_k_auc

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(config.storage, out)
    config = config.model_copy(update={"storage": url})
    scorer = build_scorer(config.scorer_spec(objective))
    reference, novelty_note = _novelty_reference(config)
    start = time.perf_counter()
    stopped = False
    with handle_stop_signals():
        if workers > 1 or client is not None:
            with _workers_client(client, workers) as client:
                if workers <= 1:  # a given cluster: one optimization loop per Dask worker
                    workers = max(1, len(client.scheduler_info().get("workers", {})))
                results = run_parallel(config, objective, client, out_dir=out, n_workers=workers)
            stopped = stop_requested() or any(r.get("stopped") for r in results)
            rounds = [
                {"worker": r["worker"], **round_} for r in results for round_ in r["retrain_rounds"]
            ]
            import optuna

            study = optuna.load_study(study_name=config.study_name, storage=make_storage(url))
        else:
            result = run_optimization(config, objective, out_dir=out, scorer=scorer)
            study, stopped = result.study, result.stopped
            rounds = [{"worker": 0, **round_} for round_ in result.retrain_rounds]
    records = scored_records(study)
    n_calls = len({r["smiles"] for r in records})
    summary: dict[str, Any] = {
        "study_name": config.study_name,
        "storage": url,
        "sampler": config.sampler,
        "budget": config.budget,
        "n_trials": len(study.trials),
        "n_oracle_calls": n_calls,
        "stopped": stopped,
        "seconds": round(time.perf_counter() - start, 2),
        "config": config.model_dump(mode="json"),
    }
    if len(scorer.objective_names) == 1 and records:
        seen: dict[str, float] = {}
        for r in records:
            seen.setdefault(r["smiles"], r["values"][0])
        summary["auc_top10"] = top_k_auc(list(seen.values()), budget=config.budget)
    if config.retrain.every:
        summary["retrain_rounds"] = rounds
    if novelty_note is not None:
        summary["novelty"] = novelty_note
    write_outputs(
        study,
        out,
        scorer.objective_names,
        seeds=_seed_smiles(config),
        novelty_reference=reference,
        summary=summary,
    )
    return summary
