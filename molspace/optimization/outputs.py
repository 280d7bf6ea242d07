"""What an optimization run leaves behind: candidates, Pareto front, history, plots, summary.

Everything is derived from the Optuna study (the single source of truth, so a resumed or
multi-worker run reports all its molecules). ``scored.parquet``/``.csv`` hold one row per
distinct scored molecule with its objective values, components, the trial that found it,
whether it meets the constraints (``feasible``) and which it violates (``violated``),
novelty against the training set and similarity to the seed molecules. The candidates
table (``candidates.parquet``/``.csv``), the one a user reads first, holds the feasible
ones only, ranked.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "candidates_table",
    "feasible_candidates",
    "novelty_hashes",
    "trials_table",
    "write_outputs",
]


def trials_table(study: Any) -> pd.DataFrame:
    """One row per trial: number, state, smiles, status, values (the study history)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        mol = t.user_attrs.get("mol", {})
        row = {
            "trial": t.number,
            "state": t.state.name,
            "smiles": mol.get("smiles", ""),
            "status": mol.get("status", ""),
            "reason": mol.get("reason", ""),
            "seed_smiles": t.user_attrs.get("seed_smiles", ""),
            "local_parent": t.user_attrs.get("local_parent", ""),
            "restart": t.user_attrs.get("restart", ""),  # a restart across the search space
        }
        for i, v in enumerate(t.values or []):
            row[f"value_{i}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def _cache_dir() -> Path:
    return Path(os.environ.get("MOLSPACE_CACHE", Path.home() / ".cache" / "molspace"))


def novelty_hashes(reference: str | Path) -> np.ndarray:
    """Sorted 64-bit hashes of the reference set's canonical SMILES.

    The shipped MOSES training set is already canonical (276 of 1.58M strings differ
    under RDKit 2026.09), so it is hashed as written, as MOSES's own Novelty does: a
    few seconds instead of minutes of canonicalization. Any other set is canonicalized
    once and cached, keyed by the file's content hash.
    """
    from molspace.metrics.novelty import TrainSet, load_moses_train
    from molspace.metrics.reference import moses_dir

    path = Path(reference)
    moses_train = moses_dir() / "train.csv.gz"
    if moses_train.is_file() and path.resolve() == moses_train.resolve():
        return load_moses_train().hashes
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    cache = _cache_dir() / "novelty" / f"{digest}.npy"
    if cache.is_file():
        return np.load(cache, allow_pickle=False)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = handle.read().splitlines()
    first = lines[0].split(",")[0].strip().lower() if lines else ""
    if first == "smiles":
        lines = lines[1:]
    smiles = [line.split(",")[0].split()[0] for line in lines if line.strip()]
    arr = TrainSet.from_smiles(smiles, name=path.name, canonicalize=True).hashes
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, arr)
    os.replace(tmp, cache)
    return arr


def _is_novel(smiles: Sequence[str], hashes: np.ndarray) -> np.ndarray:
    from molspace.metrics.novelty import TrainSet

    return ~TrainSet(name="reference", n=len(hashes), hashes=hashes).contains(list(smiles))


def _seed_similarity(smiles: Sequence[str], seeds: Sequence[str]) -> np.ndarray:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    seed_fps = [gen.GetFingerprint(m) for s in seeds if (m := Chem.MolFromSmiles(s)) is not None]
    if not seed_fps:
        return np.full(len(smiles), np.nan)
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        fp = gen.GetFingerprint(mol)
        out.append(max(DataStructs.BulkTanimotoSimilarity(fp, seed_fps)))
    return np.asarray(out)


def candidates_table(
    study: Any,
    objective_names: Sequence[str],
    seeds: Sequence[str] = (),
    novelty_reference: str | Path | None = None,
) -> pd.DataFrame:
    """Distinct scored molecules, best first, with components, feasibility (and the
    violated constraints), novelty and seed similarity."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        mol = t.user_attrs.get("mol", {})
        if mol.get("status") != "scored":
            continue
        row: dict[str, Any] = {"smiles": mol["smiles"], "trial": t.number}
        for name, value in zip(objective_names, t.values, strict=False):
            row[name] = value
        row["feasible"] = bool(mol.get("feasible", True))
        row["violated"] = ",".join(mol.get("violated", []))
        for key, value in mol.get("components", {}).items():
            if key not in row:
                row[key] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        columns = ["rank", "smiles", *objective_names, "trial", "feasible", "violated"]
        return pd.DataFrame(columns=columns)
    table = table.drop_duplicates("smiles", keep="first")
    table.insert(2, "oracle_call", np.arange(1, len(table) + 1))
    if novelty_reference:
        table["novel"] = _is_novel(table["smiles"].tolist(), novelty_hashes(novelty_reference))
    if seeds:
        table["seed_similarity"] = _seed_similarity(table["smiles"].tolist(), seeds)
    table = table.sort_values(objective_names[0], ascending=False, kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def feasible_candidates(scored: pd.DataFrame) -> pd.DataFrame:
    """The feasible rows of a scored table, ranked again from 1 (best first)."""
    table = scored[scored["feasible"].astype(bool)].drop(columns=["rank"])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def _plot_history(table: pd.DataFrame, value: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molspace.oracles import top_k_curve

    ordered = table.sort_values("oracle_call")
    scores = ordered[value].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(ordered["oracle_call"], scores, s=4, alpha=0.3, label="molecules")
    ax.plot(ordered["oracle_call"], np.maximum.accumulate(scores), label="best so far")
    n, top10 = top_k_curve(scores, k=10, freq_log=max(1, min(100, len(scores) // 20 or 1)))
    ax.plot(n, top10, label="top-10 mean")
    ax.set_xlabel("unique oracle calls")
    ax.set_ylabel(value)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(
    study: Any,
    out_dir: str | Path,
    objective_names: Sequence[str],
    *,
    seeds: Sequence[str] = (),
    novelty_reference: str | Path | None = None,
    summary: dict[str, Any] | None = None,
    n_top: int = 20,
) -> dict[str, Path]:
    """Write the candidates (feasible, ranked) and every scored molecule (Parquet + CSV),
    the Pareto front, trials, plots and summary.json."""
    from molspace.chem.draw import mols_to_grid_svg
    from molspace.io import write_table
    from molspace.versions import versions

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    scored = candidates_table(study, objective_names, seeds, novelty_reference)
    table = feasible_candidates(scored)
    for ext in ("parquet", "csv"):
        paths[f"candidates_{ext}"] = write_table(table, out / f"candidates.{ext}")
        paths[f"scored_{ext}"] = write_table(scored, out / f"scored.{ext}")
    paths["trials"] = write_table(trials_table(study), out / "trials.csv")
    if len(objective_names) > 1:
        best = {t.number for t in study.best_trials}
        front = table[table["trial"].isin(best)]
        paths["pareto"] = write_table(front, out / "pareto.csv")
        write_table(front, out / "pareto.parquet")
    if not scored.empty:
        _plot_history(scored, objective_names[0], out / "history.png")
        paths["history"] = out / "history.png"
    if not table.empty:
        top = table.head(n_top)
        legends = [
            f"#{r} {v:.3f}" for r, v in zip(top["rank"], top[objective_names[0]], strict=True)
        ]
        svg = mols_to_grid_svg(top["smiles"].tolist(), legends=legends)
        (out / "top_molecules.svg").write_text(svg)
        paths["top_molecules"] = out / "top_molecules.svg"
    record = {
        "n_candidates": len(table),  # feasible molecules; scored.* has every one
        "best": table.head(5)[["smiles", objective_names[0]]].to_dict("records")
        if not table.empty
        else [],
        "versions": versions(),
        **(summary or {}),
    }
    (out / "summary.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    paths["summary"] = out / "summary.json"
    return paths
