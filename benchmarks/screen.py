"""Screening throughput, worker memory and Tanimoto search speed, side by side with baselines.

    .venv/bin/python benchmarks/screen.py             # 100k MOSES molecules (the issue's figures)
    .venv/bin/python benchmarks/screen.py --quick     # 2k molecules, a smoke run
    .venv/bin/python benchmarks/screen.py --full      # adds the 1M-molecule memory run
    .venv/bin/python benchmarks/screen.py --tanimoto-only   # only the Tanimoto search (1M)

The panel, identical on every side: parse, standardize (normalize, largest
fragment, neutralize), canonical SMILES + dedup, Lipinski + Veber, PAINS + Brenk,
descriptors (MW, cLogP, TPSA, HBD, HBA, rotatable bonds, heavy atoms), QED, SA
and a QED x SA objective. Baselines: a plain single-process RDKit loop and the
same loop under ``multiprocessing.Pool(2)``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "libraries" / "moses" / "train.csv.gz"
CHEMFP_PER_CORE = 130e6  # chemfp's published comparisons/s/core (2048-bit, AVX2 popcount)

SPEC = {
    "screen": {
        "chunk_size": 5000,
        "dedup": "smiles",
        "descriptors": ["mw", "clogp", "tpsa", "hbd", "hba", "rotb", "heavy_atoms", "qed", "sa"],
        "top_k": 100,
    },
    "filters": {"rules": ["lipinski", "veber"], "alerts": ["pains", "brenk"]},
    "objective": {
        "components": [
            {"type": "qed"},
            {"type": "sa", "transform": {"kind": "reverse_sigmoid", "low": 2, "high": 5}},
        ]
    },
}


def molecules(n: int) -> list[str]:
    out = []
    with gzip.open(TRAIN, "rt") as handle:
        next(handle)
        for line in handle:
            out.append(line.strip())
            if len(out) == n:
                break
    return out


# -- the plain RDKit loop (the "hand-written script" we are judged against) ----------------

_STATE: dict = {}


def _plain_init() -> None:
    from rdkit import RDLogger
    from rdkit.Chem import FilterCatalog
    from rdkit.Chem.MolStandardize import rdMolStandardize

    RDLogger.DisableLog("rdApp.*")
    params = FilterCatalog.FilterCatalogParams()
    for name in ("PAINS_A", "PAINS_B", "PAINS_C", "BRENK"):
        params.AddCatalog(getattr(FilterCatalog.FilterCatalogParams.FilterCatalogs, name))
    _STATE.update(
        catalog=FilterCatalog.FilterCatalog(params),
        normalizer=rdMolStandardize.Normalizer(),
        fragment=rdMolStandardize.LargestFragmentChooser(),
        uncharger=rdMolStandardize.Uncharger(canonicalOrder=True),
        metal=rdMolStandardize.MetalDisconnector(),
    )


def plain_loop(smiles: list[str]) -> list[tuple]:
    from rdkit import Chem
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
    from rdkit.Contrib.SA_Score import sascorer

    if not _STATE:
        _plain_init()
    s = _STATE
    seen, rows = set(), []
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            rows.append((smi, None))
            continue
        mol = s["normalizer"].normalize(s["metal"].Disconnect(mol))
        mol = s["uncharger"].uncharge(s["fragment"].choose(mol))
        Chem.SanitizeMol(mol)
        can = Chem.MolToSmiles(mol)
        if can in seen:
            rows.append((smi, "duplicate"))
            continue
        seen.add(can)
        mw, logp = Descriptors.MolWt(mol), Crippen.MolLogP(mol)
        tpsa, rotb = rdMolDescriptors.CalcTPSA(mol), rdMolDescriptors.CalcNumRotatableBonds(mol)
        hbd, hba = (
            rdMolDescriptors.CalcNumLipinskiHBD(mol),
            rdMolDescriptors.CalcNumLipinskiHBA(mol),
        )
        heavy = mol.GetNumHeavyAtoms()
        lipinski = (mw > 500) + (logp > 5) + (hbd > 5) + (hba > 10) <= 1
        veber = rotb <= 10 and tpsa <= 140
        alert = s["catalog"].GetFirstMatch(mol)
        q, sa = QED.qed(mol), sascorer.calculateScore(mol)
        d_sa = 1 - 1 / (1 + math.exp(-2 * math.log(99) / 3 * (sa - 3.5)))
        score = math.sqrt(q * d_sa)
        rows.append((can, lipinski and veber and alert is None, mw, logp, tpsa, hbd, hba,
                     rotb, heavy, q, sa, score))  # fmt: skip
    return rows


def run_plain(smiles: list[str]) -> float:
    start = time.perf_counter()
    plain_loop(smiles)
    return time.perf_counter() - start


def run_pool(smiles: list[str]) -> float:
    chunk = chunk_size(len(smiles))
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(2, initializer=_plain_init) as pool:
        pool.map(plain_loop, [smiles[i : i + chunk] for i in range(0, len(smiles), chunk)])
    return time.perf_counter() - start


# -- molspace -----------------------------------------------------------------------------


class RssSampler:
    """Peak resident memory of each worker process, sampled every 0.2 s (psutil)."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.procs:
                with contextlib.suppress(Exception):  # a worker restarting between samples
                    self.peak[proc.pid] = max(self.peak[proc.pid], proc.memory_info().rss)
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def chunk_size(n: int) -> int:
    """5,000 (Dask costs ~2 ms a partition) but at least 8 partitions for small smoke runs."""
    return min(5000, max(250, n // 8))


def run_molspace(library: Path, workers: int, memory: bool = False) -> tuple[float, float | None]:
    from molspace.config import parse_config
    from molspace.screen import ScreenSpec, screen

    n = sum(1 for _ in library.open())
    config = {**SPEC, "screen": {**SPEC["screen"], "chunk_size": chunk_size(n)}}
    spec = parse_config(ScreenSpec, config, "benchmark")
    out = Path(tempfile.mkdtemp(prefix="molspace-bench-"))
    try:
        if workers == 0:
            start = time.perf_counter()
            screen(library, spec, out, workers=0)
            return time.perf_counter() - start, None
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as lc,
            Client(lc) as client,
        ):
            client.run(lambda: None)  # workers up before the clock starts (as in a Pool)
            pids = list(client.run(os.getpid).values())
            with RssSampler(pids) as sampler:
                start = time.perf_counter()
                screen(library, spec, out, client=client)
                elapsed = time.perf_counter() - start
            return elapsed, max(sampler.peak.values()) / 2**20 if memory else None
    finally:
        shutil.rmtree(out, ignore_errors=True)


def write_library(smiles: list[str], directory: Path) -> Path:
    path = directory / f"moses_{len(smiles)}.smi"
    path.write_text("".join(f"{s}\n" for s in smiles))
    return path


# -- Tanimoto -------------------------------------------------------------------------------


def tanimoto(n_library: int, n_queries: int, rdkit_library: int) -> dict[str, float]:
    """Comparisons/s of ``top_k`` (k=10) with each available backend, and of RDKit's loop."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    from molspace.similarity import PackedFingerprints, top_k

    try:
        import numba  # noqa: F401

        backends = ["numba", "numpy"]
    except ImportError:
        backends = ["numpy"]

    smiles = molecules(min(n_library, 200_000))
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    packed = PackedFingerprints.from_mols(mols)
    reps = -(-n_library // len(packed))  # tile real fingerprints up to n_library rows
    library = PackedFingerprints.from_words(np.tile(packed.words, (reps, 1))[:n_library], 2048)
    queries = packed[np.arange(0, len(packed), max(1, len(packed) // n_queries))[:n_queries]]
    rates = {}
    for backend in backends:
        top_k(queries, library[:2000], k=10, backend=backend)  # JIT compile / cache load
        start = time.perf_counter()
        top_k(queries, library, k=10, backend=backend)
        rates[backend] = n_queries * n_library / (time.perf_counter() - start)
    fps = [gen.GetFingerprint(m) for m in mols[:rdkit_library]]
    start = time.perf_counter()
    for i in range(10):
        DataStructs.BulkTanimotoSimilarity(fps[i], fps)
    theirs = 10 * len(fps) / (time.perf_counter() - start)
    return {**rates, "rdkit": theirs}


def report_tanimoto(quick: bool) -> None:
    n_lib = 100_000 if quick else 1_000_000
    load = os.getloadavg()[0]
    sims = tanimoto(n_lib, 100, 20_000 if quick else 100_000)
    load = max(load, os.getloadavg()[0])
    print(f"(4) Tanimoto 2048-bit Morgan, 100 queries x {n_lib:,}, top-10, one core "
          f"(load average {load:.1f} on {os.cpu_count()} CPUs):")  # fmt: skip
    print(f"    {'':28s} {'M comparisons/s':>15s} {'vs RDKit':>9s} {'chemfp/ours':>12s}")
    rows = [(f"molspace top_k ({b})", sims[b]) for b in ("numba", "numpy") if b in sims]
    for label, rate in [*rows, ("RDKit BulkTanimoto loop", sims["rdkit"])]:
        print(f"    {label:28s} {rate / 1e6:15.1f} {rate / sims['rdkit']:8.2f}x "
              f"{CHEMFP_PER_CORE / rate:11.2f}x")  # fmt: skip
    best = max(sims.get("numba", 0.0), sims["numpy"])
    print(f"    best: {best / sims['rdkit']:.2f}x RDKit (target >= 5); "
          f"chemfp 130 M/s is {CHEMFP_PER_CORE / best:.2f}x ours (target <= 3)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="molecules for the panel runs")
    parser.add_argument("--quick", action="store_true", help="2,000 molecules, small Tanimoto")
    parser.add_argument("--full", action="store_true", help="also the 1M-molecule memory run")
    parser.add_argument("--skip-pool", action="store_true")
    parser.add_argument("--tanimoto-only", action="store_true", help="only the Tanimoto search")
    args = parser.parse_args()
    if args.tanimoto_only:
        report_tanimoto(args.quick)
        return
    n = 2000 if args.quick else args.n
    workdir = Path(tempfile.mkdtemp(prefix="molspace-bench-lib-"))
    print(f"# molspace screening benchmark, {n:,} MOSES train molecules, {os.cpu_count()} CPUs")
    print(f"# load average at start: {os.getloadavg()[0]:.1f} (other processes contend if > 0.5)")
    smiles = molecules(n)
    library = write_library(smiles, workdir)
    t_plain = run_plain(smiles)
    t_ms1, _ = run_molspace(library, 0)
    t_ms2, mem_n = run_molspace(library, 2, memory=True)
    t_pool = math.nan if args.skip_pool else run_pool(smiles)
    rate = lambda t: n / t  # noqa: E731
    print(f"{'run':42s} {'mol/s':>9s} {'vs plain':>9s}")
    for label, t in [
        ("plain RDKit loop, 1 process", t_plain),
        ("molspace, in-process (--workers 0)", t_ms1),
        ("multiprocessing.Pool(2) of the plain loop", t_pool),
        ("molspace, LocalCluster 2 workers", t_ms2),
    ]:
        print(f"{label:42s} {rate(t):9.0f} {t_plain / t:8.2f}x")
    print(f"(1) molspace 1 process / plain loop   = {t_plain / t_ms1:.2f}  (target >= 0.9)")
    print(f"(2) molspace 2 workers / plain loop   = {t_plain / t_ms2:.2f}  (target >= 1.8)")
    print(f"    molspace 2 workers / Pool(2)      = {t_pool / t_ms2:.2f}  (target >= 1.0)")
    print(f"(3) peak worker RSS at {n:,}: {mem_n:.0f} MiB")
    if args.full:
        big = write_library(molecules(1_000_000), workdir)
        _, mem_big = run_molspace(big, 2, memory=True)
        print(f"    peak worker RSS at 1,000,000: {mem_big:.0f} MiB "
              f"(ratio {mem_big / mem_n:.2f}, target <= 1.10)")  # fmt: skip
    report_tanimoto(args.quick)
    shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
