"""Anomaly detection benchmark: can molspace tell held-out MOSES molecules from others?

Reference: a MOSES *train* slice (density fitted, threshold calibrated on it).
In-distribution: held-out MOSES *test* molecules (label 0).
Out-of-distribution sets (label 1), each against the same test molecules:

* ``drugs``     — the shipped ChEMBL drug library, standardized (largest fragment,
                  neutralised) so salts do not make the task trivial;
* ``mutated``   — MOSES test molecules after 4 random RDKit edits (element swaps
                  within the MOSES alphabet, bond-order changes, atom insertions
                  and deletions, new ring bonds) that still sanitize;
* ``shuffled``  — MOSES test molecules whose SELFIES tokens were shuffled (always
                  a valid molecule, same symbol composition).

Prints AUROC (sklearn.metrics.roc_auc_score) of the combined score and of each
signal alone, plus the outlier rate at the reference-calibrated threshold.
Target: AUROC >= 0.9. Molecules that cannot be encoded score +inf (ranked as
outliers), and how many there were is printed so that share is visible.

    .venv/bin/python benchmarks/anomaly.py [--model DIR] [--n-reference 10000] [--n 1000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ELEMENTS = (6, 7, 8, 16, 9, 17, 35)  # C N O S F Cl Br: the MOSES alphabet
BONDS = None  # set lazily (rdkit import)


def read_smiles(path: Path, n: int, skip: int = 0) -> list[str]:
    frame = pd.read_csv(path, nrows=n + skip)
    column = next(c for c in frame.columns if c.lower() == "smiles")
    return frame[column].astype(str).tolist()[skip:]


def mutate(smiles: str, rng: random.Random, edits: int = 4) -> str | None:
    """``edits`` random atom/bond edits; None when no sanitizable result was found."""
    from rdkit import Chem

    bonds = (Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    for _ in range(50):
        rw = Chem.RWMol(Chem.Mol(mol))
        Chem.Kekulize(rw, clearAromaticFlags=True)
        for _ in range(edits):
            n = rw.GetNumAtoms()
            op = rng.choice(("element", "bond", "insert", "delete", "ring"))
            if op == "element":
                rw.GetAtomWithIdx(rng.randrange(n)).SetAtomicNum(rng.choice(ELEMENTS))
            elif op == "bond" and rw.GetNumBonds():
                rw.GetBondWithIdx(rng.randrange(rw.GetNumBonds())).SetBondType(rng.choice(bonds))
            elif op == "insert":
                new = rw.AddAtom(Chem.Atom(rng.choice(ELEMENTS)))
                rw.AddBond(rng.randrange(n), new, Chem.BondType.SINGLE)
            elif op == "delete" and n > 3:
                rw.RemoveAtom(rng.randrange(n))
            elif op == "ring" and n > 4:
                a, b = rng.sample(range(n), 2)
                if rw.GetBondBetweenAtoms(a, b) is None:
                    rw.AddBond(a, b, Chem.BondType.SINGLE)
        for atom in rw.GetAtoms():
            atom.SetNoImplicit(False)
            atom.SetNumExplicitHs(0)
        try:
            out = rw.GetMol()
            Chem.SanitizeMol(out)
        except Exception:
            continue
        text = Chem.MolToSmiles(out)
        if "." in text or text == Chem.MolToSmiles(mol):
            continue
        return text
    return None


def shuffle_selfies(smiles: str, rng: random.Random) -> str | None:
    import selfies as sf
    from rdkit import Chem

    try:
        tokens = list(sf.split_selfies(sf.encoder(smiles)))
    except Exception:
        return None
    rng.shuffle(tokens)
    decoded = sf.decoder("".join(tokens))
    mol = Chem.MolFromSmiles(decoded) if decoded else None
    if mol is None or mol.GetNumHeavyAtoms() < 3:
        return None
    return Chem.MolToSmiles(mol)


def auroc(inlier: np.ndarray, outlier: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    scores = np.concatenate([inlier, outlier]).astype(float)
    finite = scores[np.isfinite(scores)]
    cap = (finite.max() + 1.0) if len(finite) else 1.0
    scores = np.where(np.isposinf(scores) | np.isnan(scores), cap, scores)
    labels = np.concatenate([np.zeros(len(inlier)), np.ones(len(outlier))])
    return float(roc_auc_score(labels, scores))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle directory [shipped default]")
    parser.add_argument("--n-reference", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=1000, help="molecules per evaluation set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from molspace.analysis.anomaly import fit_anomaly_model, score_anomalies
    from molspace.analysis.runs import standardized_smiles
    from molspace.latent import LatentSpace
    from molspace.versions import versions

    started = time.perf_counter()
    space = LatentSpace.load(args.model)
    rng = random.Random(args.seed)
    reference = read_smiles(ROOT / "libraries/moses/train.csv.gz", args.n_reference)
    model = fit_anomaly_model(
        space, reference, seed=args.seed, info={"reference": "moses train slice"}
    )
    fit_s = time.perf_counter() - started
    test = read_smiles(ROOT / "libraries/moses/test.csv.gz", args.n)
    drugs_all = standardized_smiles(read_smiles(ROOT / "libraries/drugs/chembl_drugs.csv", 10**6))
    drugs = rng.sample(drugs_all, min(args.n, len(drugs_all)))
    pool = read_smiles(ROOT / "libraries/moses/test.csv.gz", 3 * args.n, skip=args.n)
    mutated = [m for m in (mutate(s, rng) for s in pool) if m][: args.n]
    shuffled = [m for m in (shuffle_selfies(s, rng) for s in pool) if m][: args.n]

    def score(smiles: list[str]) -> pd.DataFrame:
        return score_anomalies(space, model, smiles)

    base = score(test)
    print(
        f"molspace anomaly benchmark  model={args.model or 'shipped default'}  "
        f"latent_dim={space.latent_dim}  reference=MOSES train[:{args.n_reference}]  "
        f"GMM components={model.density.n_components}  fit {fit_s:.0f}s"
    )
    print(
        f"threshold {model.threshold:.3f} (reference quantile {model.quantile}); "
        f"MOSES test flagged: {base['outlier'].mean():.1%} of {len(base)} "
        f"(expected ~{1 - model.quantile:.0%})"
    )
    header = (
        f"{'set':<10}{'n':>6}{'unencodable':>13}{'flagged':>9}{'AUROC':>8}"
        f"{'density':>9}{'recon':>8}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for name, smiles in (("drugs", drugs), ("mutated", mutated), ("shuffled", shuffled)):
        other = score(smiles)
        combined = auroc(base["anomaly_score"].to_numpy(), other["anomaly_score"].to_numpy())
        parts = []
        for column in ("density_score", "reconstruction_score"):
            a = base[column].to_numpy(dtype=float)
            b = other[column].to_numpy(dtype=float)
            b = np.where(other["status"].to_numpy() != "ok", np.inf, b)
            parts.append(auroc(a, b))
        results[name] = combined
        print(
            f"{name:<10}{len(other):>6}{int((other['status'] != 'ok').sum()):>13}"
            f"{other['outlier'].mean():>9.1%}{combined:>8.3f}{parts[0]:>9.3f}{parts[1]:>8.3f}"
        )
    verdict = "PASS" if min(results.values()) >= 0.9 else "BELOW TARGET"
    print(
        f"target AUROC >= 0.9: {verdict}  (total {time.perf_counter() - started:.0f}s; "
        f"rdkit {versions()['rdkit']}, torch {versions()['torch']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
