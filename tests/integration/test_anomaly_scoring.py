"""The anomaly scorer end to end on the real tiny trained bundle and real MOSES molecules.

Fitted on MOSES train molecules only; held-out MOSES test molecules must look
ordinary and SELFIES-shuffled ones (valid molecules, same symbols) must not.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests/data/tiny_vae"
MOSES_TRAIN = ROOT / "libraries/moses/train.csv.gz"
MOSES_TEST = ROOT / "libraries/moses/test.csv.gz"
ODD = {
    "platinum": "[Pt](Cl)(Cl)(N)N",  # symbols outside the model's alphabet
    "broken": "C1CC",  # not a molecule
    "long": "C" * 120,  # longer than the model's maximum
    "ethanol": "CCO",
}


@pytest.fixture(scope="module")
def space():
    import torch

    from molspace.latent import LatentSpace

    torch.set_num_threads(1)
    return LatentSpace.load(BUNDLE)


def moses(path: Path, n: int, skip: int = 0) -> list[str]:
    return pd.read_csv(path, nrows=n + skip).iloc[skip:, 0].astype(str).tolist()


def shuffled(smiles: list[str], seed: int) -> list[str]:
    import selfies as sf
    from rdkit import Chem

    rng = random.Random(seed)
    out = []
    for smi in smiles:
        tokens = list(sf.split_selfies(sf.encoder(smi)))
        rng.shuffle(tokens)
        mol = Chem.MolFromSmiles(sf.decoder("".join(tokens)) or "")
        if mol is not None and mol.GetNumHeavyAtoms() >= 3:
            out.append(Chem.MolToSmiles(mol))
    return out


@pytest.fixture(scope="module")
def fitted(space):
    from molspace.analysis.anomaly import fit_anomaly_model

    return fit_anomaly_model(space, moses(MOSES_TRAIN, 600), quantile=0.95, seed=0)


def test_reference_calibrated_scores_separate_shuffled_molecules(space, fitted):
    from sklearn.metrics import roc_auc_score

    from molspace.analysis.anomaly import score_anomalies

    assert fitted.components == ("density", "nll")
    assert fitted.info["n_calibration"] == 150 and fitted.info["n_fit"] == 450
    test = moses(MOSES_TEST, 200)
    decoys = shuffled(moses(MOSES_TEST, 150, skip=200), seed=0)
    base = score_anomalies(space, fitted, test)
    other = score_anomalies(space, fitted, decoys)
    assert list(base["smiles"]) == test and list(base["id"]) == [str(i) for i in range(1, 201)]
    assert (base["status"] == "ok").all()
    assert base["outlier"].mean() <= 0.15  # ~5% expected at quantile 0.95 (150 calibrators)
    ok = other["status"] == "ok"
    assert ok.sum() >= 100
    scores = np.r_[base["anomaly_score"], other.loc[ok, "anomaly_score"]]
    labels = np.r_[np.zeros(len(base)), np.ones(int(ok.sum()))]
    assert roc_auc_score(labels, scores) > 0.85  # encodable decoys only: no free points
    assert other.loc[ok, "outlier"].mean() > 0.5
    for frame in (base, other):
        p = frame.loc[frame["status"] == "ok", ["density_p", "nll_p"]]
        assert ((p > 0) & (p <= 1)).all().all()
        assert frame["reference_percentile"].between(0, 100).all()


def test_unencodable_molecules_are_flagged_with_their_reason(space, fitted):
    from molspace.analysis.anomaly import score_anomalies

    frame = score_anomalies(space, fitted, list(ODD.values()), ids=list(ODD)).set_index("id")
    for name in ("platinum", "broken", "long"):
        row = frame.loc[name]
        assert row["status"] == "unencodable" and bool(row["outlier"])
        assert np.isinf(row["anomaly_score"]) and row["reference_percentile"] == 100.0
        assert row["driver"] == "unencodable" and row["reason"]
    assert frame.loc["platinum", "reason"].startswith("unknown_symbols")
    assert frame.loc["broken", "reason"].startswith("parse_error")
    assert frame.loc["long", "reason"].startswith("too_long")
    assert frame.loc["ethanol", "status"] == "ok" and frame.loc["ethanol", "reason"] == ""
    assert frame.loc["ethanol", "driver"] in fitted.components


def test_saved_model_scores_identically(space, fitted, tmp_path):
    from molspace.analysis.anomaly import AnomalyModel, score_anomalies

    again = AnomalyModel.load(fitted.save(tmp_path / "anomaly_model.json"))
    molecules = moses(MOSES_TEST, 30)
    pd.testing.assert_frame_equal(
        score_anomalies(space, again, molecules), score_anomalies(space, fitted, molecules)
    )


def test_every_signal_can_be_combined(space):
    from molspace.analysis.anomaly import COMPONENTS, fit_anomaly_model, score_anomalies

    model = fit_anomaly_model(space, moses(MOSES_TRAIN, 200), components=COMPONENTS, seed=1)
    assert model.components == COMPONENTS
    frame = score_anomalies(space, model, [*moses(MOSES_TEST, 10), ODD["platinum"]])
    for name in COMPONENTS:
        assert np.isfinite(frame[f"{name}_score"].iloc[:10]).all()
    assert (frame["reconstruction"].iloc[:10] != "").all()  # greedy reconstructions shown
    assert np.isnan(frame["nll_score"].iloc[10]) and bool(frame["outlier"].iloc[10])
    assert (frame["elbo_score"].iloc[:10] > frame["nll_total_score"].iloc[:10]).all()
