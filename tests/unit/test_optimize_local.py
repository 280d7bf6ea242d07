"""Local moves in full latent space: shapes, parents, step sizes and crossover."""

import numpy as np

from molspace.optimization.proposals import local_children


def test_children_round_robin_over_parents_and_keep_dimension():
    parents = np.arange(12, dtype=float).reshape(3, 4)
    children, index = local_children(parents, np.ones(4), 7, np.random.default_rng(0))
    assert children.shape == (7, 4)
    assert index.tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_step_sizes_follow_sigma_and_per_dimension_scale():
    parents = np.zeros((1, 2))
    scale = np.array([1.0, 0.01])
    children, _ = local_children(parents, scale, 4000, np.random.default_rng(1), sigma=0.3)
    spread = children.std(axis=0)
    # log-uniform step in [0.15, 0.6]: its root mean square is ~0.35
    assert 0.3 < spread[0] < 0.4
    assert spread[1] < spread[0] / 50


def test_crossover_children_lie_between_parents():
    parents = np.array([[0.0, 0.0], [10.0, 10.0]])
    rng = np.random.default_rng(2)
    children, index = local_children(parents, np.ones(2), 400, rng, sigma=1e-6, crossover=1.0)
    # a blend stays within the BLX-0.25 box of the two parents
    assert children.min() >= -2.5 - 1e-3 and children.max() <= 12.5 + 1e-3
    # and moves away from the parent in some children
    assert np.abs(children - parents[index]).max() > 1.0


def test_seeded_and_empty():
    parents = np.ones((2, 3))
    a, _ = local_children(parents, 1.0, 5, np.random.default_rng(3), crossover=0.5)
    b, _ = local_children(parents, 1.0, 5, np.random.default_rng(3), crossover=0.5)
    assert np.array_equal(a, b)
    empty, idx = local_children(parents, 1.0, 0, np.random.default_rng(3))
    assert empty.shape == (0, 3) and idx.shape == (0,)
