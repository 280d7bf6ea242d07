"""Pure parts of the optimizer: oracle cache, search spaces, degenerate filter, constraints,
storage URLs and config validation (no model, no study)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from rdkit import Chem

from molspace.errors import ConfigError
from molspace.optimization import OptimizeConfig, load_optimize_config, make_sampler
from molspace.optimization.cache import OracleCache
from molspace.optimization.scoring import (
    Constraints,
    ConstraintSpec,
    OracleScorer,
    degenerate_reason,
    longest_ch2_chain,
)
from molspace.optimization.space import LatentSearchSpace, ball_space, box_space, pca_space
from molspace.optimization.storage import storage_url
from molspace.oracles import get_oracle


def test_cache_counts_unique_molecules_only() -> None:
    cache = OracleCache(budget=3)
    first = cache.add("CCO", [0.5], {"qed": 0.5})
    again = cache.add("CCO", [0.9])
    assert again is first and again.values == (0.5,)
    cache.add("CCN", [0.7])
    assert cache.n_calls == 2 and cache.remaining == 1 and not cache.exhausted
    cache.add("CCC", [0.1])
    assert cache.exhausted
    assert cache.values_in_call_order() == [0.5, 0.7, 0.1]


def test_cache_from_records_dedupes_races() -> None:
    records = [
        {"smiles": "CCO", "values": [1.0]},
        {"smiles": "CCO", "values": [1.0]},
        {"smiles": "CCN", "values": [0.0]},
    ]
    cache = OracleCache.from_records(10, records)
    assert cache.n_calls == 2


def test_box_space_roundtrip() -> None:
    space = box_space(4, bound=2.0)
    x = np.array([[0.5, -1.0, 2.0, 0.0]])
    assert np.allclose(space.to_latent(x), x)
    assert np.allclose(space.from_latent(np.array([[5.0, 0, 0, 0]])), [[2.0, 0, 0, 0]])
    assert space.param_names[0] == "x_000"


def test_ball_space_stays_in_ball() -> None:
    center = np.array([[1.0, 1.0, 1.0]])
    space = ball_space(center, radius=0.5)
    z = space.to_latent(np.full((1, 3), 0.5))  # the box corner is outside the ball
    assert np.linalg.norm(z - center) == pytest.approx(0.5)
    assert np.allclose(space.to_latent(np.zeros((1, 3))), center)


def test_pca_space_is_whitened_and_serializes() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 6)) * np.array([5, 3, 1, 0.1, 0.1, 0.1])
    space = pca_space(data, n_components=2, bound=3.0)
    x = space.from_latent(data)
    assert x.shape == (500, 2)
    assert np.allclose(np.std(np.clip(x, -3, 3), axis=0), 1.0, atol=0.1)
    back = LatentSearchSpace.from_json(space.to_json())
    assert np.allclose(back.to_latent(x[:5]), space.to_latent(x[:5]), atol=1e-6)
    assert back.digest() == space.digest()


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("CCO", "too_small"),
        ("CCCCCCCCCCCCCCCCO", "ch2_chain"),
        ("c1ccccc1CCO.c1ccccc1CCN", "fragments"),
        ("CC(C)Cc1ccc(C(C)C(=O)O)cc1", None),
    ],
)
def test_degenerate(smiles: str, reason: str | None) -> None:
    found = degenerate_reason(Chem.MolFromSmiles(smiles))
    assert (found.split(":")[0] if found else None) == reason


def test_longest_ch2_chain_ignores_rings() -> None:
    assert longest_ch2_chain(Chem.MolFromSmiles("C1CCCCCCCCC1")) == 0
    assert longest_ch2_chain(Chem.MolFromSmiles("CCCCCCC(=O)O")) == 5


def test_constraints_values() -> None:
    spec = ConstraintSpec(
        leads=["CC(C)Cc1ccc(C(C)C(=O)O)cc1"], min_similarity=0.5, properties={"mw": (100.0, 250.0)}
    )
    c = Constraints(spec)
    assert c.active and c.names == ["lead_similarity", "mw_min", "mw_max"]
    lead = c.values(Chem.MolFromSmiles("CC(C)Cc1ccc(C(C)C(=O)O)cc1"))
    assert all(v <= 0 for v in lead.values())
    far = c.values(Chem.MolFromSmiles("O=C(O)CCCCc1ccc2ccccc2c1CCCCCCCCN"))
    assert far["lead_similarity"] > 0 and far["mw_max"] > 0


def test_constraint_spec_errors() -> None:
    with pytest.raises(ValueError, match="unknown property"):
        ConstraintSpec(properties={"weight": (0, 1)})
    with pytest.raises(ValueError, match="needs at least one lead"):
        ConstraintSpec(min_similarity=0.3)


def test_oracle_scorer_components() -> None:
    scorer = OracleScorer(get_oracle("amlodipine_mpo"))
    [(values, comps)] = scorer.score(["Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC"])
    assert comps["sim_ecfp4_score"] == pytest.approx(1.0) and comps["rings"] == 2
    assert values[0] == pytest.approx(np.sqrt(np.exp(-2)))


def test_storage_urls(tmp_path) -> None:
    assert storage_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/study.db"
    assert storage_url(str(tmp_path / "s.journal"), tmp_path).startswith("journal:")
    assert storage_url("postgresql://u@h/db", tmp_path) == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match=r"expected a \.db"):
        storage_url(str(tmp_path / "s.txt"), tmp_path)


def test_sampler_names() -> None:
    for name in ("tpe", "gp", "nsga2", "random"):
        assert make_sampler(name, 0, 4, 8, False, 1) is not None
    if importlib.util.find_spec("cmaes") is None:
        with pytest.raises(ConfigError, match="needs the 'cmaes' package"):
            make_sampler("cmaes", 0, 4, 8, False, 1)
    else:
        assert make_sampler("cmaes", 0, 4, 8, False, 1) is not None
    with pytest.raises(ConfigError, match="single-objective"):
        make_sampler("cmaes", 0, 4, 8, False, 2)


def test_config_errors_name_the_key(tmp_path) -> None:
    path = tmp_path / "opt.toml"
    path.write_text('[optimize]\npmo = "qed"\nsampler = "annealing"\n')
    with pytest.raises(ConfigError, match=r"opt.toml \[optimize\]: sampler"):
        load_optimize_config(path)
    path.write_text('[optimize]\npmo = "qed"\nbugdet = 3\n')
    with pytest.raises(ConfigError, match="bugdet: unknown key"):
        load_optimize_config(path)
    with pytest.raises(ConfigError, match="exactly one scorer"):
        OptimizeConfig().scorer_spec(None)
