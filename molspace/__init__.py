"""molspace: molecular design and virtual screening in a learned latent space.

The public API, imported lazily so that ``import molspace`` and ``molspace --help`` stay
fast (RDKit, torch, Dask and Optuna load on first use)::

    import molspace
    space = molspace.LatentSpace.load()            # the shipped MOSES VAE
    space.sample(3, seed=0)
    molspace.screen(["lib.smi"], "workflows/configs/screen_druglike.toml", out="hits")
    molspace.optimize("workflows/configs/optimize_lead.toml", out_dir="lead")

The packages, one per pipeline stage, lowest first (a stage imports only the ones below
it; ``tests/unit/test_layering.py`` enforces it): ``chem`` → ``io`` → ``similarity`` →
``scoring``, ``oracles``, ``metrics`` → ``screening`` → ``model`` → ``latent`` →
``analysis`` → ``optimization`` → ``report`` → ``workflow`` → ``cli``; below them all the
base modules ``errors``, ``config``, ``versions``, ``interrupt`` and ``cluster``.
"""

from __future__ import annotations

from molspace._lazy import lazy_exports
from molspace.versions import __version__

_NAMES = {
    # models and the latent space
    "LatentSpace": "molspace.latent.space",
    "load_bundle": "molspace.model.bundle",
    "evaluate": "molspace.latent.evaluation",
    # the three jobs: screen, design, batch workflows
    "screen": "molspace.screening.run",
    "optimize": "molspace.optimization.api",
    "run_workflow": "molspace.workflow.runner",
    "Objective": "molspace.scoring.objective",
    # analyses of a latent space
    "interpolate": "molspace.analysis.interpolate",
    "explore": "molspace.analysis.explore:explore_radius",
    "map_library": "molspace.analysis.maps",
    "anomaly_scores": "molspace.analysis.anomaly",
    # structure-based screening
    "dock": "molspace.docking.run",
    # errors
    "MolspaceError": "molspace.errors",
    "InputError": "molspace.errors",
    "InvalidMoleculeError": "molspace.errors",
    "VocabularyError": "molspace.errors",
    "BundleError": "molspace.errors",
    "ConfigError": "molspace.errors",
}

__all__ = ["__version__", *_NAMES]
__getattr__, _dir = lazy_exports(__name__, _NAMES)


def __dir__() -> list[str]:
    return sorted(set(_dir()) | {"__version__"})
