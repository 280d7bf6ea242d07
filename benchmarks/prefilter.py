"""What the optimizer's prefilter removes, and what it costs the search.

``prior``: the share of the model's prior samples the default prefilter (MOSES MCF alerts
plus structure sanity, ``molspace.chem.sanity``) rejects, by rule, and with PAINS and
Brenk added.

``compare``: two runs of ``workflows/design.toml`` with the same seed, screen slice and
budget, one with the prefilter on (as shipped) and one with
``--set steps.optimize.constraints.prefilter=false``. Prints, for each, the best scored and
best shortlisted molecule, how many oracle calls and shortlisted molecules the prefilter
would strike out, and the AUC top-10.

    .venv/bin/python benchmarks/prefilter.py prior [--samples 2000] [--seed 0] [--model DIR]
    .venv/bin/python benchmarks/prefilter.py compare RUN_ON RUN_OFF
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd
from rdkit import Chem

from molspace.chem.rdlog import capture_rdkit_log
from molspace.optimization import OptimizeConfig
from molspace.optimization.scoring import Constraints, ConstraintSpec
from molspace.optimization.study import seed_smiles


def _rule(reason: str | None) -> str:
    return "pass" if reason is None else reason.split(":", 1)[0]


def prior(samples: int, seed: int, model: str | None) -> None:
    from molspace.latent import LatentSpace

    space = LatentSpace.load(model)
    smiles = space.sample(samples, seed=seed)
    default = Constraints(ConstraintSpec(reject_degenerate=False))
    panel = Constraints(
        ConstraintSpec(reject_degenerate=False, prefilter_alerts=("mcf", "pains", "brenk"))
    )
    counts: dict[str, Counter[str]] = {"default": Counter(), "with pains + brenk": Counter()}
    valid = 0
    with capture_rdkit_log():
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s else None
            if mol is None:
                continue
            valid += 1
            counts["default"][_rule(default.prefilter_reason(mol))] += 1
            counts["with pains + brenk"][_rule(panel.prefilter_reason(mol))] += 1
    print(f"{samples} prior samples (seed {seed}), {valid} valid")
    for name, found in counts.items():
        rejected = valid - found["pass"]
        rules = ", ".join(f"{r} {n / valid:.1%}" for r, n in found.most_common() if r != "pass")
        print(f"  prefilter {name}: rejects {rejected / valid:.1%} ({rules})")


def _gate(run: Path) -> Constraints:
    summary = json.loads((run / "optimize" / "study" / "summary.json").read_text())
    config = OptimizeConfig.model_validate(summary["config"])
    config = config.model_copy(
        update={"constraints": config.constraints.model_copy(update={"prefilter": True})}
    )
    return Constraints(config.constraints, references=seed_smiles(config))


def compare(run_on: Path, run_off: Path) -> None:
    gate = _gate(run_on)  # the shipped prefilter, with the on-run's seeds
    best_screened = pd.read_csv(run_on / "screen" / "out" / "top_k.csv")["score"].max()
    print(f"best screened molecule: {best_screened:.4f}")
    for name, run in (("on", run_on), ("off", run_off)):
        summary = json.loads((run / "optimize" / "study" / "summary.json").read_text())
        scored = pd.read_parquet(run / "optimize" / "study" / "candidates.parquet")
        short = pd.read_parquet(run / "optimize" / "candidates.parquet")
        with capture_rdkit_log():
            struck = scored["smiles"].map(lambda s: gate.prefilter_reason(Chem.MolFromSmiles(s)))
        in_short = struck[scored["smiles"].isin(set(short["smiles"]))].notna().sum()
        print(
            f"prefilter {name}: {summary['n_oracle_calls']} oracle calls in "
            f"{summary['n_trials']} trials; best scored {scored['score'].max():.4f}, "
            f"best shortlisted {short['score'].max():.4f}; the prefilter strikes out "
            f"{int(struck.notna().sum())} scored and {int(in_short)} of {len(short)} "
            f"shortlisted; AUC top-10 {summary.get('auc_top10', float('nan')):.4f}"
        )
        rejected = summary.get("prefilter_rejections") or {}
        if rejected:
            print(f"   rejected before scoring (distinct molecules): {rejected}")
        if struck.notna().any():
            print(
                f"   scored, would be struck out: {dict(struck.dropna().map(_rule).value_counts())}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prior")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None)
    c = sub.add_parser("compare")
    c.add_argument("run_on", type=Path)
    c.add_argument("run_off", type=Path)
    args = parser.parse_args()
    if args.command == "prior":
        prior(args.samples, args.seed, args.model)
    else:
        compare(args.run_on, args.run_off)


if __name__ == "__main__":
    main()
