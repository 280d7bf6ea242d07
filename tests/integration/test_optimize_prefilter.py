"""The prefilter in a real search (tiny trained VAE, SQLite study, declared objective):
nothing it rejects reaches the scorer, and summary.json counts what each rule removed."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from rdkit import Chem

from molspace.optimization import OptimizeConfig, optimize
from molspace.optimization.scoring import Constraints

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_vae"
LIBRARY = TINY / "sample_molecules.csv"


def test_prefilter_rejects_before_scoring_and_counts_by_rule(tmp_path: Path) -> None:
    # no S, F, Cl, Br and the PAINS/Brenk panel on top of MCF: the tiny model's decodings
    # are sure to trip several rules
    constraints = {
        "min_heavy_atoms": 6,
        "prefilter_alerts": ["mcf", "pains", "brenk"],
        "allowed_elements": ["H", "C", "N", "O"],
    }
    config = OptimizeConfig.model_validate(
        {
            "model": str(TINY),
            "budget": 6,
            "batch_size": 16,
            "seed": 3,
            "sampler": "random",
            "storage": str(tmp_path / "study.db"),
            "space": {"kind": "box", "bound": 2.0},
            "constraints": constraints,
            "novelty_reference": "",
        }
    )
    objective = {"components": [{"type": "qed"}]}
    summary = optimize(config, objective, out_dir=tmp_path / "out")
    assert summary["config"]["constraints"]["prefilter"] is True  # a design run: on

    import optuna

    study = optuna.load_study(study_name="molspace", storage=f"sqlite:///{tmp_path / 'study.db'}")
    gate = Constraints(config.constraints)
    by_rule: dict[str, set[str]] = defaultdict(set)
    for trial in study.get_trials(deepcopy=False):
        mol = trial.user_attrs["mol"]
        if mol["status"] == "scored":  # everything scored passed the gate
            assert gate.degenerate(Chem.MolFromSmiles(mol["smiles"])) is None
        elif mol["status"] == "degenerate":
            assert "components" not in mol  # never scored
            by_rule[mol["reason"].split(":", 1)[0]].add(mol["smiles"])
    expected = {rule: len(smiles) for rule, smiles in by_rule.items()}
    counts = summary["prefilter_rejections"]
    assert counts == expected and sum(counts.values()) > 0
    assert "element" in counts  # the tiny model decodes S/F/Cl molecules
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["prefilter_rejections"] == counts
