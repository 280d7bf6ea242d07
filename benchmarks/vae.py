"""The shipped VAE's MOSES row beside the published MOSES models, plus reconstruction and speed.

Samples the model's prior (``--samples``, 30,000 as MOSES asks), scores them with
:mod:`molspace.metrics` against MOSES's own Test statistics and training set,
and prints our row under the published rows (VAE, CharRNN, AAE, JTN-VAE,
LatentGAN: the ``moses_table`` anchor). Below it: greedy reconstruction of
``--recon`` held-out MOSES test molecules (a seeded random subset), mean heavy
atoms of the samples against the test set's, the property Wasserstein
distances, and throughput on this machine: training (from the bundle's recorded
run), encoding and decoding (measured here, molecules/s, RDKit canonicalization
included). Goals (issue 5): valid 1.0, unique@10k >= 0.998, Novelty >= 0.9,
FCD/Test <= 0.1 (first milestone 0.5), recon >= 0.9, heavy atoms within 5%.

    .venv/bin/python benchmarks/vae.py [--model DIR] [--samples 30000] [--recon 10000]
    .venv/bin/python benchmarks/vae.py --quick        # 2,000 samples, 500 recon: a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

GOALS = {  # column -> (comparison, target)
    "valid": (">=", 1.0),
    "unique@10k": (">=", 0.998),
    "FCD/Test": ("<=", 0.1),
    "Novelty": (">=", 0.9),
    "recon": (">=", 0.9),
    "heavy_atoms_ratio": ("within", 0.05),
}


def _goal_met(name: str, value: float) -> str:
    if name not in GOALS or value is None or math.isnan(value):
        return ""
    how, target = GOALS[name]
    ok = (
        value >= target
        if how == ">="
        else value <= target
        if how == "<="
        else abs(value - 1) <= target
    )
    return f"{'met' if ok else 'NOT met'} ({how} {target})"


def _training_rate(metadata: dict) -> tuple[float | None, str]:
    training = metadata.get("training") or {}
    hours = training.get("train_hours")
    n_train = training.get("n_train")
    epochs = training.get("epochs")
    if not hours or not n_train or not epochs:
        return None, "not recorded in the bundle"
    rate = n_train * epochs / (hours * 3600)
    return rate, f"{training.get('hardware', '?')}, {epochs} epochs of {n_train:,} in {hours:.2f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="bundle dir (default: shipped)")
    parser.add_argument("--samples", type=int, default=30000)
    parser.add_argument("--recon", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="processes / torch threads")
    parser.add_argument("--scaffold-split", action="store_true", help="also score vs TestSF")
    parser.add_argument("--quick", action="store_true", help="2,000 samples, 500 recon")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--record",
        action="store_true",
        help="add this row to the bundle's curve.json and its model card's curve",
    )
    args = parser.parse_args()
    if args.quick:
        args.samples, args.recon = min(args.samples, 2000), min(args.recon, 500)

    import torch
    from _anchors import load_anchor, print_beside

    from molspace.latent import LatentSpace
    from molspace.latent.evaluation import reconstruction_accuracy
    from molspace.metrics import MOSES_COLUMNS, MosesMetrics, load_moses_smiles
    from molspace.versions import versions

    torch.set_num_threads(args.jobs)
    space = LatentSpace.load(args.model)
    metrics = MosesMetrics(
        test_scaffolds="moses" if args.scaffold_split else None, n_jobs=args.jobs
    )

    t = time.perf_counter()
    generated = space.sample(args.samples, seed=args.seed)
    sample_s = time.perf_counter() - t
    print(f"sampled {args.samples:,} in {sample_s:.1f} s", flush=True)
    row = metrics(generated)

    test = load_moses_smiles("test")
    pick = np.random.default_rng(args.seed).choice(len(test), args.recon, replace=False)
    held_out = [test[i] for i in pick]
    encode_rate = recon_all = None
    if args.recon:
        import pandas as pd

        t = time.perf_counter()
        encoded = space.encode_table(pd.DataFrame({"smiles": held_out}))
        encode_rate = len(encoded.latent) / (time.perf_counter() - t)
        rec = reconstruction_accuracy(space, held_out)
        row["recon"] = rec.accuracy
        recon_all = rec.n_exact / rec.n_input
    row["heavy_atoms_ratio"] = row["mean_heavy_atoms"] / row["test_mean_heavy_atoms"]
    train_rate, train_note = _training_rate(space.metadata)

    anchor = load_anchor("moses_table")
    label = f"molspace ({args.samples:,} samples, seed {args.seed})"
    print_beside(
        "MOSES metrics against the Test set",
        list(MOSES_COLUMNS),
        {label: row},
        anchor["rows"] if anchor else None,
        published_columns=anchor["columns"] if anchor else None,
        source=anchor.get("source") if anchor else None,
    )
    if anchor and "reference" in anchor:
        print(f"published reference: {anchor['reference']}")

    lines = [
        ("recon (exact, encodable)", row.get("recon"), f"{args.recon:,} held-out test molecules"),
        ("recon (exact, all)", recon_all, "unencodable count as failures"),
        ("mean heavy atoms", row["mean_heavy_atoms"], f"test {row['test_mean_heavy_atoms']:.2f}"),
        ("heavy_atoms_ratio", row["heavy_atoms_ratio"], "samples / test"),
        ("IntDiv2", row["IntDiv2"], ""),
    ]
    lines += [(f"W({k})", row[k], "Wasserstein vs test") for k in ("logP", "SA", "QED", "weight")]
    lines += [
        ("training mol/s", train_rate, train_note),
        ("encoding mol/s", encode_rate, f"{args.jobs} torch threads, this CPU"),
        ("decoding mol/s", args.samples / sample_s, "greedy prior samples incl. RDKit"),
    ]
    print()
    for name, value, note in lines:
        key = "recon" if name.startswith("recon (exact, encodable)") else name
        shown = (
            "n/a"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else (f"{value:,.1f}" if "mol/s" in name else f"{value:.4f}")
        )
        print(f"  {name:<26} {shown:>10}  {note}  {'' if value is None else _goal_met(key, value)}")
    for name in ("valid", "unique@10k", "FCD/Test", "Novelty"):
        print(f"  goal {name:<21} {row[name]:>10.4f}  {_goal_met(name, row[name])}")
    print("\nmetric seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics.timings.items()))
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} (throughput wants it idle)")

    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    if args.record:
        _record(args, space, clean)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "metrics": clean,
                    "samples": args.samples,
                    "seed": args.seed,
                    "recon_n": args.recon,
                    "throughput": {
                        "training": train_rate,
                        "encoding": encode_rate,
                        "decoding": args.samples / sample_s,
                    },
                    "timings_s": metrics.timings,
                    "versions": versions(),
                },
                indent=1,
            )
        )


def _record(args: argparse.Namespace, space: object, row: dict) -> None:
    """Add this measurement to the bundle's learning curve (``curve.json``, model card)."""
    import datetime

    from molspace.latent.curve import record_figures, update_card_curve
    from molspace.model.bundle import DEFAULT_BUNDLE

    bundle = args.model or DEFAULT_BUNDLE
    training = space.metadata.get("training") or {}  # type: ignore[attr-defined]
    keys = ("valid", "unique@10k", "FCD/Test", "FCD/TestSF", "SNN/Test", "Frag/Test")
    keys += ("Scaf/Test", "IntDiv", "IntDiv2", "Filters", "Novelty", "heavy_atoms_ratio")
    today = datetime.date.today().isoformat()
    record_figures(
        bundle,
        {
            "step": training.get("steps"),
            "epochs": training.get("epochs"),
            "train_hours": training.get("train_hours"),
            "samples": args.samples,
            "seed": args.seed,
            "metrics": {k: row.get(k) for k in keys},
            "recon": row.get("recon"),
            "recon_n": args.recon,
            "source": f"benchmarks/vae.py --samples {args.samples} --recon {args.recon}, {today}",
        },
    )
    print(f"recorded in {update_card_curve(bundle)}")


if __name__ == "__main__":
    main()
