"""Stage 10, latent optimization: an Optuna search over the VAE's latent space for
molecules that maximize a declared objective (``molspace.optimize`` is the function).

``config`` (the ``[optimize]`` table), ``space`` (where Optuna proposes), ``proposals``
(local children and crossover in the full latent space), ``scoring`` (scorer and
constraints), ``cache`` and ``ledger`` (each molecule scored once, an exact budget across
processes), ``retrain`` (weighted retraining), ``study`` (sampler, study, seeds),
``loop`` (ask → decode → claim → score → tell), ``recovery`` (a killed worker's trials),
``parallel`` (Dask workers), ``outputs`` (candidates, plots, summary), ``run`` (one
process) and ``api`` (``optimize``). May import every stage below it (``chem`` …
``analysis``, ``oracles``, ``metrics``); never ``report``, ``workflow`` or ``cli``.
"""

from molspace._lazy import lazy_exports

_NAMES = {
    "SAMPLERS": ".config",
    "OptimizeConfig": ".config",
    "RetrainSpec": ".config",
    "SpaceSpec": ".config",
    "load_optimize_config": ".config",
    "OptimizeResult": ".run",
    "optimize": ".api",
    "run_optimization": ".run",
    "run_parallel": ".parallel",
    "make_sampler": ".study",
    "scored_records": ".study",
}
__all__ = list(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
