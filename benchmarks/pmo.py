"""PMO benchmark (Gao et al. 2022) on the 20 pure-RDKit tasks: molspace vs the published rows.

Each task is run with several seeds and a budget of unique oracle calls (10,000 in PMO);
the metric is mol_opt's AUC top-10 (``molspace.oracles.top_k_auc``). Two methods run here:

- ``molspace``: ``molspace.optimization.run_optimization`` in a whitened PCA subspace of the
  encoded MOSES training set, batched ask/tell, with part of each batch perturbing the
  current top molecules in the full latent space (``local_fraction``); sampler
  configurable (default ``random`` proposals + local search, the cheapest per trial;
  ``tpe`` for model-based proposals) and, by default, weighted retraining of the VAE
  every 500 calls (25 Adam steps at 1e-3; ``--retrain-every 0`` turns it off);
- ``prior``: random sampling of the latent prior N(0, I), the in-run baseline.

Degenerate-molecule rejection is off, as in PMO: every distinct valid molecule costs a call.
Printed: per-task AUC top-10 (mean ± sd over seeds) beside the published PMO rows
(SELFIES-VAE-BO, screening, Graph GA, REINVENT), the sums, the best top-3 QED, and wall
time per 1,000 oracle calls.

    python benchmarks/pmo.py --quick                      # 3 tasks, 1 seed, budget 500
    python benchmarks/pmo.py --tasks qed,median1 --seeds 0,1,2 --budget 10000
    python benchmarks/pmo.py --tasks qed --json a.json   # one part of the tasks per process,
    python benchmarks/pmo.py --merge a.json b.json       # then one table of all parts
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molspace.optimization.cache import OracleCache  # noqa: E402
from molspace.oracles import PMO_TASKS, get_oracle, top_k_auc, top_k_mean  # noqa: E402

PUBLISHED = ("selfies_vae_bo", "screening", "graph_ga", "reinvent")
QUICK_TASKS = ("qed", "albuterol_similarity", "isomers_c7h8n2o2")


def _latent(model: str | None):
    from molspace.latent import LatentSpace

    if model:
        return LatentSpace.load(model)
    try:
        return LatentSpace.load(None)
    except Exception as exc:  # the shipped model may not be trained yet
        print(f"shipped model unavailable ({exc}); using tests/data/tiny_vae", file=sys.stderr)
        return LatentSpace.load(ROOT / "tests" / "data" / "tiny_vae")


def run_prior(latent, task: str, seed: int, budget: int, batch: int) -> tuple[list[float], float]:
    """Random prior sampling until ``budget`` distinct valid molecules are scored."""
    oracle = get_oracle(task)
    cache = OracleCache(budget)
    start = time.perf_counter()
    rng_seed = seed * 100_003
    stale = 0
    while not cache.exhausted and stale < 50:
        z = latent.sample_latent(batch, seed=rng_seed)
        rng_seed += 1
        before = cache.n_calls
        for smiles in latent.decode(z):
            if cache.exhausted:
                break
            if smiles and smiles not in cache:
                cache.add(smiles, [oracle(smiles)])
        stale = stale + 1 if cache.n_calls == before else 0
    return cache.values_in_call_order(), time.perf_counter() - start


def run_molspace(
    latent, task: str, seed: int, budget: int, args: argparse.Namespace
) -> tuple[list[float], float]:
    from molspace.optimization import OptimizeConfig, run_optimization, scored_records

    config = OptimizeConfig(
        pmo=task,
        sampler=args.sampler,
        budget=budget,
        batch_size=args.batch_size,
        seed=seed,
        storage=":memory:",
        study_name=f"{task}-{seed}",
        local_fraction=args.local_fraction,
        local_sigma=args.local_sigma,
        local_top=args.local_top,
        temperature=args.temperature,
        retrain={
            "every": args.retrain_every,
            "steps": args.retrain_steps,
            "learning_rate": args.retrain_lr,
        },
        local_crossover=args.local_crossover,
        space={
            "kind": args.space,
            "n_components": args.components,
            "bound": args.bound,
            "library_size": args.library_size,
        },
        constraints={"reject_degenerate": False},
        novelty_reference="",
        max_trials=args.max_trials_factor * budget,
    )
    start = time.perf_counter()
    result = run_optimization(config, out_dir="/tmp", latent=latent)
    seen: dict[str, float] = {}
    for record in scored_records(result.study):
        seen.setdefault(record["smiles"], record["values"][0])
    return list(seen.values()), time.perf_counter() - start


def _provenance(latent) -> dict:
    """What a saved result depends on: date, library versions and which model (its weights'
    sha256 and training step), so a row can be traced to the bundle that produced it."""
    from datetime import datetime, timezone

    from molspace.versions import versions

    training = latent.metadata.get("training", {})
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "model_sha256": latent.metadata.get("weights", {}).get("sha256"),
        "model_steps": training.get("steps"),
        "model_epochs": training.get("epochs"),
    }


def _published() -> dict:
    """The PMO leaderboard rows (anchor ``pmo_auc_top10``), or {} when not found."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _anchors import load_anchor

    anchor = load_anchor("pmo_auc_top10")
    if anchor is None:
        print("no pmo_auc_top10 anchor found; printing our rows alone", file=sys.stderr)
        return {}
    return anchor["auc_top10"]


def _fmt(values: list[float]) -> str:
    if not values:
        return "   -   "
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f}±{np.std(values):.3f}"


def print_table(results: dict, budget: int, published: dict) -> None:
    """Per-task AUC (mean ± sd over seeds) beside the published rows, sums, QED, time."""
    methods = list(results)
    tasks = [t for t in PMO_TASKS if any(t in results[m] for m in methods)]
    seeds = sorted({r["seed"] for m in methods for rows in results[m].values() for r in rows})
    header = f"{'task':26s} " + " ".join(f"{m:>13s}" for m in methods)
    header += " " + " ".join(f"{p[:13]:>13s}" for p in PUBLISHED)
    print(f"\nPMO AUC top-10, budget {budget} unique calls, seeds {seeds}")
    print(header)
    sums = {m: 0.0 for m in (*methods, *PUBLISHED)}
    for task in tasks:
        cells = []
        for m in methods:
            values = [r["auc_top10"] for r in results[m].get(task, [])]
            sums[m] += float(np.mean(values)) if values else 0.0
            cells.append(f"{_fmt(values):>13s}")
        for p in PUBLISHED:
            value = published.get(task, {}).get(p)
            sums[p] += float(value) if value else 0.0
            cells.append(f"{value if value else '-':>13s}")
        print(f"{task:26s} " + " ".join(cells))
    label = "sum" if len(tasks) == len(PMO_TASKS) else f"sum ({len(tasks)} of {len(PMO_TASKS)})"
    print(f"{label:26s} " + " ".join(f"{sums[m]:>13.3f}" for m in (*methods, *PUBLISHED)))
    if budget != 10_000:
        print("(published rows are at 10,000 calls; AUC at a smaller budget is not comparable)")
    for m in methods:
        if "qed" in results[m]:
            best = max(r["top3"] for r in results[m]["qed"])
            print(f"best top-3 QED ({m}): {best:.3f}   (published latent methods: 0.947-0.948)")
        total_calls = sum(r["n_calls"] for rows in results[m].values() for r in rows)
        total_seconds = sum(r["seconds"] for rows in results[m].values() for r in rows)
        if total_calls:
            print(
                f"wall time per 1,000 oracle calls ({m}): "
                f"{1000 * total_seconds / total_calls:.1f} s"
            )


def merge_results(paths: list[Path]) -> tuple[int, dict]:
    """Runs saved by ``--json`` (e.g. tasks split over several processes) as one result;
    a (method, task, seed) present twice keeps its last file's row."""
    budgets: set[int] = set()
    merged: dict[str, dict[str, dict[int, dict]]] = {}
    for path in paths:
        data = json.loads(path.read_text())
        budgets.add(int(data["budget"]))
        for method, tasks in data["results"].items():
            for task, rows in tasks.items():
                for row in rows:
                    merged.setdefault(method, {}).setdefault(task, {})[row["seed"]] = row
    if len(budgets) != 1:
        raise SystemExit(f"--merge: the files hold different budgets {sorted(budgets)}")
    results = {
        m: {t: [rows[s] for s in sorted(rows)] for t, rows in tasks.items()}
        for m, tasks in merged.items()
    }
    return budgets.pop(), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="comma-separated (default: all 20)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="3 tasks, seed 0, budget 500")
    parser.add_argument("--model", default=None, help="bundle (default: shipped model)")
    parser.add_argument("--methods", default="molspace,prior")
    parser.add_argument("--sampler", default="random", help="tpe, random, gp, cmaes")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--space", default="pca", help="pca (whitened subspace) or box")
    parser.add_argument("--bound", type=float, default=3.0, help="box/PCA half-width in std")
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--local-fraction", type=float, default=0.75)
    parser.add_argument("--local-sigma", type=float, default=0.3)
    parser.add_argument("--local-crossover", type=float, default=0.3)
    parser.add_argument("--local-top", type=int, default=10, help="parents of local moves")
    parser.add_argument("--temperature", type=float, default=0.0, help="decoding (0: greedy)")
    parser.add_argument(
        "--retrain-every", type=int, default=500, help="weighted retraining every N calls (0: off)"
    )
    parser.add_argument("--retrain-steps", type=int, default=25)
    parser.add_argument("--retrain-lr", type=float, default=1e-3)
    parser.add_argument("--library-size", type=int, default=2000)
    parser.add_argument("--max-trials-factor", type=int, default=10)
    parser.add_argument(
        "--json", type=Path, default=None, help="write raw results here (after every run)"
    )
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="print the table of saved --json files"
    )
    args = parser.parse_args()
    if args.merge:
        budget, results = merge_results(args.merge)
        print_table(results, budget, _published())
        return

    tasks = list(PMO_TASKS) if args.tasks is None else [t.strip() for t in args.tasks.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    budget = args.budget
    if args.quick:
        tasks = list(QUICK_TASKS) if args.tasks is None else tasks
        seeds, budget = [0], min(budget, 500)
    for task in tasks:
        get_oracle(task)  # fail fast on a typo
    methods = [m.strip() for m in args.methods.split(",")]

    import torch

    torch.set_num_threads(1)  # one thread decodes faster than an oversubscribed pool here
    latent = _latent(args.model)
    provenance = _provenance(latent)
    published = _published()
    results: dict[str, dict[str, list[dict]]] = {m: {} for m in methods}
    for seed in seeds:  # seed-major: a cut-short run still has every task of its first seed
        for task in tasks:
            for method in methods:
                if method == "prior":
                    scores, seconds = run_prior(latent, task, seed, budget, args.batch_size)
                else:
                    scores, seconds = run_molspace(latent, task, seed, budget, args)
                auc = top_k_auc(scores, k=10, freq_log=100, budget=budget)
                row = {
                    "seed": seed,
                    "auc_top10": auc,
                    "n_calls": len(scores),
                    "seconds": seconds,
                    "top3": top_k_mean(scores, 3),
                    "best": max(scores) if scores else 0.0,
                }
                results[method].setdefault(task, []).append(row)
                print(
                    f"{task:26s} {method:9s} seed {seed}: AUC {auc:.3f} top1 {row['best']:.3f} "
                    f"calls {len(scores)} in {seconds:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if args.json:
                    payload = {
                        "budget": budget,
                        "args": vars(args),
                        "provenance": provenance,
                        "results": results,
                    }
                    args.json.write_text(json.dumps(payload, indent=2, default=str))
    print_table(results, budget, published)


if __name__ == "__main__":
    main()
