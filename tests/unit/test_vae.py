"""LatentSpace on the committed tiny trained bundle: encode, decode, sample, invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from molspace.errors import InvalidMoleculeError, VocabularyError
from molspace.latent import LatentSpace

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"
MOLECULES = [
    "CCOC(=O)c1ccccc1",
    "Cc1ccc(NC(=O)C2CC2)cc1",
    "O=C(O)c1ccncc1",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
]


@pytest.fixture(scope="module")
def space() -> LatentSpace:
    import torch

    # one thread: step-by-step decoding gains nothing from two, and loses a lot on a busy machine
    torch.set_num_threads(1)
    return LatentSpace.load(TINY)


def test_encode_shape_and_determinism(space: LatentSpace) -> None:
    z = space.encode(MOLECULES)
    assert z.shape == (len(MOLECULES), space.latent_dim)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, space.encode(MOLECULES))
    # batching and order do not change a molecule's vector
    np.testing.assert_allclose(space.encode(MOLECULES[::-1], batch_size=1)[::-1], z, atol=1e-5)


def test_random_latents_always_decode_to_molecules(space: LatentSpace) -> None:
    """Invariant: any latent vector (prior draws, far outliers) decodes to a parseable molecule."""
    rng = np.random.default_rng(7)
    z = np.concatenate(
        [
            rng.standard_normal((400, space.latent_dim)),
            6 * rng.standard_normal((100, space.latent_dim)),
        ]
    ).astype(np.float32)
    for temperature in (0.0, 1.0):
        decoded = space.decode_details(z, temperature=temperature, seed=3)
        assert decoded.valid.all()
        assert (decoded.heavy_atoms >= 1).all()
        for smiles in decoded.smiles:
            mol = Chem.MolFromSmiles(smiles)
            assert mol is not None and mol.GetNumAtoms() > 0
            assert Chem.MolToSmiles(mol) == smiles  # canonical


def test_greedy_decode_is_deterministic_and_sampling_is_seeded(space: LatentSpace) -> None:
    z = space.sample_latent(64, seed=1)
    np.testing.assert_array_equal(z, space.sample_latent(64, seed=1))
    assert space.decode(z) == space.decode(z)
    assert space.decode(z, temperature=1.0, seed=5) == space.decode(z, temperature=1.0, seed=5)
    assert space.sample(20, seed=2) == space.sample(20, seed=2)
    assert len(space.sample(0, seed=2)) == 0


def test_trained_model_keeps_molecule_sizes(space: LatentSpace) -> None:
    """The tiny bundle is really trained: reconstructions keep the input's size and prior
    samples are drug-like, where an untrained decoder emits max-length chains or fragments."""
    train_like = pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()
    recon = space.reconstruct(train_like)
    size_in = np.array([Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in train_like])
    size_out = np.array([Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in recon])
    assert np.abs(size_in - size_out).mean() < 5
    prior = space.decode_details(space.sample_latent(200, seed=0))
    assert 10 <= np.median(prior.heavy_atoms) <= 35
    assert len(set(prior.smiles)) > 100


def test_bad_user_molecules_raise_naming_the_molecule(space: LatentSpace) -> None:
    with pytest.raises(InvalidMoleculeError, match=r"^nonsense"):
        space.encode(["CCO", "nonsense"])
    with pytest.raises(VocabularyError, match=r"^\[Na\+\]\.\[Cl-\]: cannot be encoded"):
        space.encode(["[Na+].[Cl-]"])


def test_encode_table_rejects_with_reasons_and_counts_add_up(space: LatentSpace) -> None:
    table = pd.DataFrame(
        {
            "source": "lib.smi",
            "row": np.arange(1, 6, dtype=np.int64),
            "id": ["a", "b", "c", "d", "e"],
            "smiles": ["CCO", "garbage(", "[Na+].[Cl-]", "C" * 300, "C[C@H](N)C(=O)O"],
        }
    )
    result = space.encode_table(table)
    assert len(result.records) + len(result.rejects) == len(table)
    assert list(result.records["id"]) == ["a", "e"]
    assert result.records["canonical_smiles"].tolist() == ["CCO", "CC(N)C(=O)O"]
    assert result.latent.shape == (2, space.latent_dim)
    assert list(result.rejects.columns) == ["source", "row", "id", "input", "reason"]
    assert list(result.rejects["row"]) == [2, 3, 4]
    assert all(result.rejects["reason"].str.len() > 0)


def test_decode_rejects_wrong_shapes(space: LatentSpace) -> None:
    with pytest.raises(VocabularyError, match="shape"):
        space.decode(np.zeros((2, space.latent_dim + 1)))
    with pytest.raises(VocabularyError, match="NaN"):
        space.decode(np.full((1, space.latent_dim), np.nan))


def test_reconstruction_accuracy_counts_add_up(space: LatentSpace) -> None:
    from molspace.latent.evaluation import reconstruction_accuracy

    molecules = [
        *pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()[:30],
        "bad(",
        "[Na+].[Cl-]",
    ]
    result = reconstruction_accuracy(space, molecules)
    assert result.n_input == 32 and result.n_encodable == 30
    assert len(result.table) == 32 and result.table["reason"].notna().sum() == 2
    assert result.accuracy == result.table["exact"].sum() / 30
    assert (
        result.table.loc[result.table["exact"], "decoded"]
        .eq(result.table.loc[result.table["exact"], "canonical_smiles"])
        .all()
    )


def test_prior_sample_statistics(space: LatentSpace) -> None:
    from molspace.latent.evaluation import prior_sample_statistics

    reference = pd.read_csv(TINY / "sample_molecules.csv")["smiles"].tolist()
    stats = prior_sample_statistics(
        space, 100, seed=0, reference_smiles=reference, training_smiles=set(reference)
    )
    assert stats.validity == 1.0
    assert 0 < stats.uniqueness <= 1 and 0 <= stats.novelty <= 1
    assert stats.heavy_atoms_ratio == pytest.approx(
        stats.mean_heavy_atoms / stats.reference_mean_heavy_atoms
    )
