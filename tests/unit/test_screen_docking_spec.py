"""``[screen.docking]`` and the ``docking`` objective component: validation, ranking, the
resume key and the funnel's selection (no Vina run here; see
tests/integration/test_screen_docking.py for the docking itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from molspace.config import parse_config
from molspace.errors import ConfigError
from molspace.scoring import ObjectiveSpec
from molspace.screening.docking_stage import select
from molspace.screening.spec import ScreenSpec

QED = {"components": [{"type": "qed"}]}


def _spec(docking: dict[str, object], **tables: object) -> ScreenSpec:
    return ScreenSpec.model_validate({"screen": {"docking": docking}, **tables})


def test_funnel_needs_a_column_to_rank_by() -> None:
    with pytest.raises(ValidationError, match="funnel_top needs a column"):
        _spec({"target": "1s3v", "funnel_top": 10})
    assert _spec({"target": "1s3v", "funnel_top": 10}, objective=QED).screen.docking is not None
    assert _spec({"target": "1s3v", "funnel_top": 10, "funnel_by": "qed"}).screen.docking


def test_stage_keys_are_strict_and_a_screen_objective_cannot_dock() -> None:
    with pytest.raises(ConfigError, match="exhaustivnes"):
        parse_config(
            ScreenSpec, {"screen": {"docking": {"target": "1s3v", "exhaustivnes": 4}}}, "x.toml"
        )
    with pytest.raises(ValidationError, match=r"\[screen.docking\] stage"):
        ScreenSpec.model_validate(
            {"objective": {"components": [{"type": "docking", "target": "1s3v"}]}}
        )


def test_ranking_defaults_to_docking_score_most_negative_first() -> None:
    spec = _spec({"target": "1s3v"}, objective=QED)
    assert spec.rank_column() == "docking_score" and spec.rank_ascending()
    assert spec.rank_column(docked=False) == "score" and not spec.rank_ascending(docked=False)
    chosen = ScreenSpec.model_validate(
        {"screen": {"docking": {"target": "1s3v"}, "rank_by": "qed"}, "objective": QED}
    )
    assert chosen.rank_column() == "qed" and not chosen.rank_ascending()


def test_docking_settings_do_not_invalidate_the_screened_partitions() -> None:
    a = _spec({"target": "1s3v", "exhaustiveness": 2})
    b = _spec({"target": "1s3v", "exhaustiveness": 4})
    assert a.partition_hash() == b.partition_hash() == ScreenSpec().partition_hash()
    stage_a, stage_b = a.screen.docking, b.screen.docking
    assert stage_a is not None and stage_b is not None
    assert stage_a.key("t", "s") != stage_b.key("t", "s")
    assert stage_a.key("t", "s") != stage_a.key("other-target", "s")
    assert stage_a.settings().exhaustiveness == 2


def test_a_relative_bundle_directory_is_resolved_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "bundles" / "mine").mkdir(parents=True)
    spec = _spec({"target": "bundles/mine"}).resolve(tmp_path)
    assert spec.screen.docking is not None
    assert spec.screen.docking.target == str((tmp_path / "bundles" / "mine").resolve())
    code = _spec({"target": "1s3v"}).resolve(tmp_path)  # a PDB code stays a code
    assert code.screen.docking is not None and code.screen.docking.target == "1s3v"


def _results(out: Path, parts: list[pd.DataFrame]) -> None:
    (out / "results").mkdir(parents=True)
    for i, part in enumerate(parts):
        part.to_parquet(out / "results" / f"part-{i:06d}.parquet")


def _part(rows: range, scores: list[float], passed: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": "lib.smi",
            "row": np.array(rows, dtype=np.int64),
            "id": [f"m{r}" for r in rows],
            "canonical_smiles": [f"C{'C' * r}O" for r in rows],
            "passed": passed,
            "score": scores,
        }
    )


def test_funnel_selects_the_best_passing_rows_ties_to_the_earlier(tmp_path: Path) -> None:
    _results(
        tmp_path,
        [
            _part(range(0, 3), [0.9, 0.5, 0.95], [True, True, False]),
            _part(range(3, 6), [0.9, np.nan, 0.7], [True, True, True]),
        ],
    )
    spec = _spec({"target": "1s3v", "funnel_top": 3}, objective=QED)
    chosen, passed, column = select(tmp_path, spec)
    assert passed == 5 and column == "score"
    # m2 failed a filter; m4 has no score; m0 and m3 tie at 0.9: the earlier first
    assert list(chosen["id"]) == ["m0", "m3", "m5"]
    assert list(chosen["smiles"]) == ["CO", "CCCCO", "CCCCCCO"]
    everything, passed, column = select(tmp_path, _spec({"target": "1s3v"}))
    assert column is None and passed == 5
    assert list(everything["id"]) == ["m0", "m1", "m3", "m4", "m5"]  # input order
    missing = _spec({"target": "1s3v", "funnel_top": 2, "funnel_by": "dock_me"})
    with pytest.raises(ConfigError, match="no column 'dock_me'"):
        select(tmp_path, missing)


def test_docking_component_validates_and_maps_kcal_per_mol_to_desirability() -> None:
    spec = ObjectiveSpec.model_validate(
        {"components": [{"type": "docking", "target": "1s3v", "exhaustiveness": 2}]}
    )
    component = spec.components[0]
    transform = component.resolved_transform()
    d = transform.apply(np.array([-11.0, -8.0, -5.0, np.nan]))
    assert d[0] == pytest.approx(0.99) and d[2] == pytest.approx(0.01) and d[3] == 0.0
    assert d[0] > d[1] > d[2]
    with pytest.raises(ValidationError):
        ObjectiveSpec.model_validate({"components": [{"type": "docking"}]})  # no target
    with pytest.raises(ValidationError):
        ObjectiveSpec.model_validate(
            {"components": [{"type": "docking", "target": "1s3v", "exhaustiveness": 0}]}
        )
    with pytest.raises(ConfigError, match="neither a bundle directory nor a shipped target"):
        from molspace.scoring import Objective

        Objective.from_spec(
            ObjectiveSpec.model_validate({"components": [{"type": "docking", "target": "9zzz"}]})
        )
