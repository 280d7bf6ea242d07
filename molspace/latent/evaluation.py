"""Quick model checks used by training reports, the model card and benchmarks.

``reconstruction_accuracy``: greedy decode of each molecule's posterior mean, exact
match of canonical SMILES (stereo removed as the model sees it); molecules the
model cannot encode are counted separately, never silently dropped.
``prior_sample_statistics``: validity, uniqueness, novelty and heavy-atom counts of
prior samples, the figures that reveal posterior holes and tiny-fragment decoding.
The full MOSES metric set (FCD, SNN, ...) lives in :mod:`molspace.metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ReconstructionResult",
    "SampleStatistics",
    "evaluate",
    "heavy_atom_counts",
    "prior_sample_statistics",
    "reconstruction_accuracy",
]


@dataclass
class ReconstructionResult:
    accuracy: float  # exact matches / encodable molecules
    n_input: int
    n_encodable: int
    n_exact: int
    table: pd.DataFrame  # input, canonical_smiles, decoded, exact, reason

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "table"}


def reconstruction_accuracy(
    space: Any, smiles: Sequence[str], batch_size: int = 512
) -> ReconstructionResult:
    """Exact greedy reconstruction rate of ``smiles`` through ``space`` (a LatentSpace)."""
    table = pd.DataFrame({"smiles": list(smiles)})
    encoded = space.encode_table(table, batch_size=batch_size)
    decoded = space.decode(encoded.latent) if len(encoded.latent) else []
    out = pd.DataFrame(
        {
            "input": encoded.records["smiles"].tolist(),
            "canonical_smiles": encoded.records["canonical_smiles"].tolist(),
            "decoded": decoded,
        }
    )
    out["exact"] = out["canonical_smiles"] == out["decoded"]
    out["reason"] = None
    rejected = pd.DataFrame(
        {
            "input": encoded.rejects["input"].tolist(),
            "canonical_smiles": None,
            "decoded": None,
            "exact": False,
            "reason": encoded.rejects["reason"].tolist(),
        }
    )
    full = pd.concat([out, rejected], ignore_index=True) if len(rejected) else out
    n_exact = int(out["exact"].sum())
    return ReconstructionResult(
        accuracy=n_exact / max(1, len(out)),
        n_input=len(table),
        n_encodable=len(out),
        n_exact=n_exact,
        table=full,
    )


def heavy_atom_counts(smiles: Iterable[str]) -> np.ndarray:
    """Heavy atoms of each SMILES (-1 where RDKit cannot parse it)."""
    from rdkit import Chem

    from molspace.chem.rdlog import capture_rdkit_log

    counts = []
    with capture_rdkit_log():  # parse failures are counted, never printed
        for text in smiles:
            mol = Chem.MolFromSmiles(text) if text else None
            counts.append(mol.GetNumHeavyAtoms() if mol is not None else -1)
    return np.asarray(counts, dtype=np.int64)


@dataclass
class SampleStatistics:
    n: int
    validity: float
    uniqueness: float
    novelty: float | None  # fraction of unique valid samples not in the training set
    mean_heavy_atoms: float
    reference_mean_heavy_atoms: float | None
    heavy_atoms_ratio: float | None  # samples / reference; the goal is within 5% of 1
    fraction_tiny: float  # samples with fewer than 10 heavy atoms (decoder failure mode)

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def prior_sample_statistics(
    space: Any,
    n: int,
    seed: int,
    *,
    reference_smiles: Sequence[str] | None = None,
    training_smiles: set[str] | None = None,
    temperature: float = 0.0,
) -> SampleStatistics:
    """Decode ``n`` prior samples and summarize them against a reference (test) set."""
    decoded = space.decode_details(space.sample_latent(n, seed), temperature=temperature, seed=seed)
    valid = [s for s, ok in zip(decoded.smiles, decoded.valid, strict=True) if ok]
    unique = set(valid)
    novelty = None
    if training_smiles is not None and unique:
        novelty = sum(1 for s in unique if s not in training_smiles) / len(unique)
    heavy = decoded.heavy_atoms[decoded.valid]
    ref_mean = None
    if reference_smiles is not None:
        ref = heavy_atom_counts(reference_smiles)
        ref_mean = float(ref[ref >= 0].mean())
    mean = float(heavy.mean()) if len(heavy) else 0.0
    return SampleStatistics(
        n=n,
        validity=len(valid) / max(1, n),
        uniqueness=len(unique) / max(1, len(valid)),
        novelty=novelty,
        mean_heavy_atoms=mean,
        reference_mean_heavy_atoms=ref_mean,
        heavy_atoms_ratio=(mean / ref_mean) if ref_mean else None,
        fraction_tiny=float(np.mean(heavy < 10)) if len(heavy) else 0.0,
    )


def evaluate(
    space: Any = None,
    *,
    samples: int = 30000,
    seed: int = 0,
    recon: int = 10000,
    temperature: float = 0.0,
    scaffold_split: bool = True,
    jobs: int = 2,
    log: Any = None,
) -> dict[str, Any]:
    """The MOSES metrics of ``samples`` prior samples (FCD, SNN, Frag, Scaf, IntDiv,
    Filters, novelty, ...) and exact reconstruction of ``recon`` held-out MOSES test
    molecules, with timings and versions: the model's row beside the published ones.

    ``space``: a ``LatentSpace``, a bundle directory, or None for the shipped model.
    ``log(message)`` hears about each long step. The returned ``generated`` list holds
    the samples, so a caller can keep them."""
    import time

    from molspace.latent.space import LatentSpace
    from molspace.metrics import MosesMetrics, load_moses_smiles
    from molspace.versions import versions

    say = log or (lambda message: None)
    if not isinstance(space, LatentSpace):
        space = LatentSpace.load(space)
    metrics = MosesMetrics(test_scaffolds="moses" if scaffold_split else None, n_jobs=jobs)
    say(f"sampling {samples:,} molecules")
    start = time.perf_counter()
    generated = space.sample(samples, seed=seed, temperature=temperature)
    sample_seconds = time.perf_counter() - start
    say("computing MOSES metrics")
    row = metrics(generated)
    result: dict[str, Any] = {"metrics": row, "timings_s": dict(metrics.timings)}
    result["timings_s"]["sample"] = sample_seconds
    result["decode_per_s"] = samples / sample_seconds if sample_seconds else None
    if recon:
        test = load_moses_smiles("test")
        pick = np.random.default_rng(seed).choice(len(test), min(recon, len(test)), replace=False)
        say(f"reconstructing {len(pick):,} test molecules")
        start = time.perf_counter()
        rec = reconstruction_accuracy(space, [test[i] for i in pick])
        result["timings_s"]["reconstruction"] = time.perf_counter() - start
        row["recon"] = rec.accuracy
        result["reconstruction"] = {
            **rec.summary(),
            "accuracy_all": rec.n_exact / rec.n_input if rec.n_input else None,
        }
    result.update(
        samples=samples,
        seed=seed,
        temperature=temperature,
        versions=versions(),
        generated=generated,
    )
    return result
