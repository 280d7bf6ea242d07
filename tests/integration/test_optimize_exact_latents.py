"""Seeds and local moves decode their exact latent vectors, not a projection.

A molecule's encoding almost never lies in the low-dimensional search subspace; the
optimizer must start from the seeds themselves and move around the vectors the best
molecules were decoded from (tiny trained VAE, real Optuna SQLite storage).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molspace.optimization import OptimizeConfig, run_optimization
from molspace.optimization.anchors import anchor_seeds
from molspace.optimization.space import LatentSearchSpace

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"
SEEDS = ["CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CC(=O)Oc1ccccc1C(=O)O"]


@pytest.fixture(scope="module")
def latent():
    from molspace.latent import LatentSpace

    return LatentSpace.load(TINY)


def test_seeds_and_local_moves_use_exact_latents(tmp_path: Path, latent) -> None:
    config = OptimizeConfig.model_validate(
        {
            "model": str(TINY),
            "pmo": "qed",
            "budget": 24,
            "batch_size": 8,
            "seed": 3,
            "seeds": SEEDS,
            "local_fraction": 0.5,
            "local_crossover": 0.5,
            "storage": str(tmp_path / "study.db"),
            "space": {"kind": "pca", "n_components": 2, "library": str(LIBRARY)},
            "novelty_reference": "",
        }
    )
    result = run_optimization(config, out_dir=tmp_path, latent=latent)
    trials = sorted(result.study.trials, key=lambda t: t.number)
    space = LatentSearchSpace.from_json(result.study.user_attrs["space"])
    # the space remembers the spread of the encoded library, for local steps
    assert space.scale is not None and space.scale.shape == (latent.latent_dim,)
    assert np.all(space.scale > 0)

    # each seed's anchor (its posterior draw decoding closest to it), not its projection
    anchored = np.stack([a.z for a in anchor_seeds(latent, SEEDS, config.seed_anchor_draws, 3)])
    for trial, z in zip(trials[:2], anchored, strict=True):
        decoded_from = np.asarray(trial.user_attrs["mol"]["z"])
        assert np.allclose(decoded_from, z, atol=1e-4)
        x = np.array([[trial.params[n] for n in space.param_names]])
        assert not np.allclose(space.to_latent(x)[0], z, atol=1e-2)  # 2 dims cannot hold it
    seed_decodes = latent.decode(anchored)
    assert [t.user_attrs["mol"]["smiles"] for t in trials[:2]] == seed_decodes

    local = [t for t in trials if "local_parent" in t.user_attrs]
    assert local, "later batches perturb the best molecules"
    for t in local:
        assert np.allclose(t.user_attrs["mol"]["z"], t.user_attrs["z_exact"], atol=1e-4)
    # children stay near their parents in full latent space: the local step is small
    z_of = {}
    for t in trials:
        mol = t.user_attrs["mol"]
        if mol.get("status") == "scored":
            z_of.setdefault(mol["smiles"], np.asarray(mol["z"]))
    steps = [
        np.linalg.norm(np.asarray(t.user_attrs["z_exact"]) - z_of[t.user_attrs["local_parent"]])
        for t in local
        if t.user_attrs["local_parent"] in z_of
    ]
    prior_norm = np.sqrt(latent.latent_dim)
    assert steps and np.median(steps) < prior_norm
