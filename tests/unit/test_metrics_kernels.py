"""Similarity kernels, filters, reference files and FCD against brute force / MOSES data."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from molspace.errors import InputError
from molspace.metrics import ReferenceStats, build_reference, load_moses_smiles, load_reference
from molspace.metrics.features import featurize
from molspace.metrics.filters import first_filter_failure, passes_filters
from molspace.metrics.similarity import max_tanimoto, mean_tanimoto_powers, unpack


def _brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, y = unpack(a).astype(float), unpack(b).astype(float)
    inter = x @ y.T
    union = x.sum(1)[:, None] + y.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union == 0, 1.0, inter / union)


def _random_fps(rng: np.random.Generator, n: int, bits: int, density: tuple[float, float]):
    p = rng.uniform(*density, size=(n, 1))
    return np.packbits(rng.random((n, bits)) < p, axis=1)


@pytest.mark.parametrize("bits, density", [(1024, (0.0, 0.08)), (2048, (0.1, 0.3))])
def test_nearest_neighbour_and_mean_similarity_match_brute_force(bits, density):
    # the second case has popcounts > 256, exercising the float32 path
    rng = np.random.default_rng(7)
    query = _random_fps(rng, 70, bits, density)
    ref = _random_fps(rng, 230, bits, density)
    query[0] = 0  # empty vs empty counts as 1, as in MOSES
    ref[3] = 0
    ref[10] = query[5]
    sims = _brute(query, ref)
    got = max_tanimoto(query, ref, query_block=16, ref_block=50)
    np.testing.assert_allclose(got, sims.max(1), rtol=1e-6)
    assert got[5] == pytest.approx(1.0)
    self_sims = _brute(query, query)
    powers = mean_tanimoto_powers(query, (1, 2), block=32)
    np.testing.assert_allclose(powers[1], self_sims.mean(1), rtol=1e-6)
    np.testing.assert_allclose(powers[2], (self_sims**2).mean(1), rtol=1e-6)


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("CCO", None),
        ("C[N+](C)(C)C", "charge"),
        ("CP(C)C", "element:P"),
        ("C1CCCCCCC1", "ring_size"),
        ("CCCCl", "mcf:MCF4"),
        ("O=Cc1ccccc1", "mcf:MCF7"),
        ("CC1CO1", "mcf:MCF5"),
        ("CCSSCC", "mcf:MCF16"),
        ("O=C1C(=Cc2ccccc2)SC(=S)N1", "pains:<regId=ene_rhod_A(235)>"),
        ("Cc1ccc(N)cc1", "pains:<regId=anil_no_alk(40)>"),
    ],
)
def test_moses_filters_name_the_rule_a_molecule_breaks(smiles, reason):
    mol = Chem.MolFromSmiles(smiles)
    assert first_filter_failure(mol) == reason
    assert passes_filters(mol) is (reason is None)


@pytest.mark.slow
def test_fingerprint_screen_never_changes_the_filter_verdict():
    import pandas as pd

    from molspace.metrics.reference import moses_dir

    drugs = pd.read_csv(moses_dir().parents[0] / "drugs" / "chembl_drugs.csv")["smiles"]
    mols = [m for m in (Chem.MolFromSmiles(s) for s in drugs.iloc[:250]) if m is not None]
    screened = [first_filter_failure(m) for m in mols]
    full = [first_filter_failure(m, screen=False) for m in mols]
    assert screened == full
    assert sum(r is not None and r.startswith(("mcf", "pains")) for r in full) >= 20


def test_moses_test_molecules_featurize_exactly_as_moses_stored_them():
    ref = load_reference("test")
    assert ref.n == 176_074 and ref.fingerprints.shape == (176_074, 128)
    smiles = load_moses_smiles("test")[:150]
    table = featurize(smiles)
    assert table.valid.all()
    np.testing.assert_array_equal(table.fingerprints(), ref.fingerprints[:150])
    for key in ("logP", "SA", "QED", "weight"):
        np.testing.assert_allclose(table.property(key), ref.properties[key][:150], atol=1e-9)
    assert table.filter_pass().all()  # MOSES built its sets from molecules that pass


def test_reference_stats_round_trip_and_refuse_pickles(tmp_path):
    ref = build_reference(["CCO", "c1ccccc1C(=O)O", "CCN(CC)CC", "c1ccc2ccccc2c1"], name="t")
    ref.save(tmp_path / "t.npz")
    back = ReferenceStats.load(tmp_path / "t.npz")
    assert back.name == "t" and back.n == 4
    np.testing.assert_array_equal(back.fingerprints, ref.fingerprints)
    np.testing.assert_allclose(back.fcd_sigma, ref.fcd_sigma)
    assert back.fragments == ref.fragments and back.scaffolds == ref.scaffolds
    # MOSES's original statistics are a pickled dict: loading must refuse, not unpickle
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, stats=np.array({"FCD": {}}, dtype=object))
    with pytest.raises(InputError, match=r"pickled\.npz"):
        ReferenceStats.load(pickled)
    with pytest.raises(InputError, match="not found"):
        ReferenceStats.load(tmp_path / "missing.npz")


@pytest.mark.slow
def test_fcd_of_a_set_against_itself_is_zero():
    from molspace.metrics.fcd import chemnet_stats, frechet_distance

    smiles = load_moses_smiles("test")[1000:1060]
    stats = chemnet_stats(smiles)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-3)
    other = chemnet_stats(["C" * n for n in range(1, 40)])
    assert frechet_distance(stats, other) > 10


def test_frechet_distance_equals_fcd_torch_formula():
    from fcd_torch.utils import calculate_frechet_distance

    from molspace.metrics.fcd import frechet_distance

    rng = np.random.default_rng(3)
    x, y = (
        rng.normal(size=(200, 48)),
        rng.normal(1.0, 2.0, size=(150, 48)) @ rng.normal(size=(48, 48)),
    )
    a = (x.mean(0), np.cov(x.T))
    b = (y.mean(0), np.cov(y.T))
    expected = calculate_frechet_distance(a[0], a[1], b[0], b[1])
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
