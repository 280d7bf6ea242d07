"""Call logs: round trip, provenance, AUC from the file alone, size, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molspace.oracles import get_oracle, top_k_auc
from molspace.oracles.call_log import (
    as_logged,
    auc_from_log,
    read_call_log,
    rescore,
    top_mean_from_log,
    write_call_log,
)

ROOT = Path(__file__).resolve().parents[2]
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1O"]


def test_round_trip_keeps_order_scores_and_provenance(tmp_path: Path) -> None:
    qed = get_oracle("qed")
    scores = [qed(s) for s in SMILES]
    prev = [0.1, 0.2, 0.3, 0.4, 0.5]
    meta = {"task": "qed", "seed": 3, "budget": 10, "method_config": {"sampler": "random"}}
    path = write_call_log(
        tmp_path / "a" / "qed_seed3.parquet", SMILES, scores, meta, {"prev": prev}
    )
    log = read_call_log(path)
    assert log.table["call"].tolist() == [1, 2, 3, 4, 5]
    assert log.table["smiles"].tolist() == SMILES
    assert np.array_equal(log.scores(), as_logged(scores))
    assert np.array_equal(log.scores("score_prev"), as_logged(prev))
    assert np.max(np.abs(log.scores() - np.asarray(scores))) < 1e-7
    assert log.metadata["method_config"] == {"sampler": "random"}
    assert log.metadata["n_calls"] == 5 and log.metadata["seed"] == 3
    assert log.score_columns == ("score", "score_prev")
    assert auc_from_log(log) == top_k_auc(as_logged(scores), budget=10)
    assert auc_from_log(log, "score_prev") == top_k_auc(as_logged(prev), budget=10)
    assert top_mean_from_log(log, 3) == pytest.approx(np.sort(as_logged(scores))[-3:].mean())
    assert np.allclose(rescore(log, qed), scores, rtol=0, atol=1e-15)
    with pytest.raises(KeyError, match="no column 'score_x'"):
        log.scores("score_x")


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="5 SMILES but 4 scores"):
        write_call_log(tmp_path / "x.parquet", SMILES, [0.0] * 4, {})
    with pytest.raises(ValueError, match="score_prev: 2 values for 5 calls"):
        write_call_log(tmp_path / "x.parquet", SMILES, [0.0] * 5, {}, {"prev": [1.0, 2.0]})
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"smiles": SMILES}), other)
    with pytest.raises(ValueError, match=r"other\.parquet: not a molspace call log"):
        read_call_log(other)


def test_ten_thousand_calls_well_under_200_kb(tmp_path: Path) -> None:
    """Worst case for the floats: 10,000 real MOSES SMILES with random (incompressible)
    scores in both score columns."""
    smiles = pd.read_csv(ROOT / "libraries" / "moses" / "test.csv.gz", nrows=10_000).iloc[:, 0]
    rng = np.random.default_rng(0)
    scores, prev = rng.random(10_000), rng.random(10_000)
    path = write_call_log(
        tmp_path / "big.parquet", smiles.tolist(), scores, {"budget": 10_000}, {"prev": prev}
    )
    size = path.stat().st_size
    assert size < 170_000, size
    log = read_call_log(path)
    assert auc_from_log(log) == top_k_auc(as_logged(scores), budget=10_000)
