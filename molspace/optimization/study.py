"""The Optuna side of a search: the sampler, the study, its seeds and its search space.

A study stores its search space and enqueued seeds the first time it is created, so every
process that later joins it (a resumed run, Dask workers, separate ``molspace optimize``
processes) searches the same space. Trials carry the molecule they decoded in the user
attribute ``MOL_ATTR``; enqueued trials carry the exact latent vector to decode in
``Z_ATTR`` (seeds and local moves are decoded from it, not from its projection).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molspace.errors import ConfigError, InputError
from molspace.optimization.anchors import anchor_seeds
from molspace.optimization.config import SAMPLERS, OptimizeConfig, SpaceSpec
from molspace.optimization.ledger import OracleLedger
from molspace.optimization.space import LatentSearchSpace, ball_space, box_space, pca_space

__all__ = [
    "MOL_ATTR",
    "Z_ATTR",
    "load_study",
    "make_sampler",
    "resolve_space",
    "sampler_handles_constraints",
    "scored_records",
    "seed_smiles",
]

MOL_ATTR = "mol"  # trial user attribute holding smiles/status/components/z
Z_ATTR = "z_exact"  # enqueued trials: the full latent vector to decode (seeds, local moves)


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


def sampler_handles_constraints(name: str) -> bool:
    return name in ("tpe", "gp", "nsga2")


def scored_records(study: Any) -> list[dict[str, Any]]:
    """Scored molecules of a study in oracle-call order (trial number), first score of each."""
    import optuna

    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        mol = t.user_attrs.get(MOL_ATTR)
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


def load_study(config: OptimizeConfig, storage_url: str, directions: Sequence[str]) -> Any:
    import optuna

    from molspace.optimization.storage import make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # per-trial fallback notes are noise
    storage = make_storage(storage_url)
    n_params_hint = config.space.n_components if config.space.kind == "pca" else 64
    sampler = make_sampler(
        config.sampler,
        config.seed,
        n_params_hint,
        config.batch_size,
        sampler_handles_constraints(config.sampler),
        len(directions),
    )
    try:
        study = optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            sampler=sampler,
            directions=list(directions),  # type: ignore[arg-type]
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


def seed_smiles(config: OptimizeConfig) -> list[str]:
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


def resolve_space(
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
    from molspace.interrupt import interruptible

    with interruptible():  # encoding: nothing stored yet
        anchors = anchor_seeds(latent, seeds, config.seed_anchor_draws, config.seed)
    seed_latents = np.stack([a.z for a in anchors]) if anchors else None
    stored = study.user_attrs.get("space")
    if stored is not None:
        return LatentSearchSpace.from_json(stored), seed_latents
    with interruptible():
        space = _build_space(config, latent, seed_latents)
    if ledger is not None:
        settled = ledger.settle("space", space.to_json())
        if settled != space.to_json():  # another process created the study first
            return LatentSearchSpace.from_json(settled), seed_latents
    study.set_user_attr("space", space.to_json())
    study.set_user_attr("seed_anchors", [a.describe() for a in anchors])
    study.set_user_attr("budget", config.budget)
    study.set_user_attr("sampler", config.sampler)
    if seeds and seed_latents is not None:
        x = space.from_latent(seed_latents)
        for smiles, params, z in zip(seeds, space.params_of(x), seed_latents, strict=True):
            # the anchor itself is decoded, not its projection into the search space
            exact = np.round(z, 5).tolist()
            study.enqueue_trial(params, user_attrs={"seed_smiles": smiles, Z_ATTR: exact})
    return space, seed_latents
