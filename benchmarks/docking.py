"""Docking figures: redocking RMSD, PoseBusters pass rate, DHFR enrichment, throughput.

    python benchmarks/docking.py redock [--exhaustiveness 8]
    python benchmarks/docking.py posebusters [--n 100] [--target 1s3v] [--poses poses.sdf.gz]
    python benchmarks/docking.py enrichment [--n 1000] [--target 1s3v]
    python benchmarks/docking.py throughput [--n 24] [--exhaustiveness 2] [--funnel 0.25]

Every figure is printed beside its goal (issue 18) and, with ``--json FILE``, kept
with the date, versions and settings. Docking always goes through molspace's own
code (``dock_table`` / ``dock``); the throughput baselines are a plain one-process
loop over Vina's Python API with the same prepared ligands and settings, and the same
loop spread over a ``multiprocessing.Pool`` (the script a chemist would write for
two cores, and the ceiling the cluster is measured against).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molspace.docking.core import close_engines, dock_table  # noqa: E402
from molspace.docking.settings import DockingSettings  # noqa: E402
from molspace.docking.target import resolve_target  # noqa: E402

CODES = ("1ia1", "1of6", "1s3v", "1uou")
MOSES_TEST = ROOT / "libraries" / "moses" / "test.csv.gz"
DRUGS = ROOT / "libraries" / "drugs" / "chembl_drugs.csv"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _top_pose(sdf: str) -> Any:
    from rdkit import Chem

    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf, removeHs=False)
    return next(iter(supplier))


def redock(args: argparse.Namespace) -> dict[str, Any]:
    """Each crystal ligand re-docked into its own target; symmetry-aware heavy-atom RMSD."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    settings = _settings(args)
    rows = []
    for code in args.codes.split(","):
        target = resolve_target(code)
        crystal = Chem.MolFromMolFile(str(target.reference_ligand()))
        smiles = Chem.MolToSmiles(crystal)
        started = time.perf_counter()
        table = dock_table(pd.DataFrame({"id": [code], "smiles": [smiles]}), target, settings)
        seconds = time.perf_counter() - started
        row = table.iloc[0]
        rmsd = math.nan
        if row["status"] == "ok":
            pose = Chem.RemoveHs(_top_pose(row["poses"]))
            rmsd = rdMolAlign.CalcRMS(pose, Chem.RemoveHs(crystal))
        rows.append(
            {
                "target": code,
                "status": row["status"],
                "reason": row["reason"],
                "score": round(float(row["score"]), 3),
                "rmsd": round(float(rmsd), 3),
                "seconds": round(seconds, 1),
                "load": _load(),
            }
        )
        print(
            f"{code}: score {row['score']:.2f} kcal/mol, top-pose RMSD {rmsd:.2f} Å "
            f"({seconds:.0f} s, load {_load()}){'' if row['status'] == 'ok' else row['reason']}",
            flush=True,
        )
    close_engines()
    good = sum(r["rmsd"] <= 2.0 for r in rows)
    print(
        f"redocking: {good}/{len(rows)} within 2 Å (goal >= 3 of the 4) at exhaustiveness "
        f"{args.exhaustiveness}"
    )
    return {"rows": rows, "within_2A": good, "settings": settings.model_dump()}


def _settings(args: argparse.Namespace) -> DockingSettings:
    return DockingSettings(
        exhaustiveness=args.exhaustiveness, seed=args.seed, n_poses=9, time_limit=args.time_limit
    )


def _moses_sample(n: int, seed: int, skip: int = 0) -> pd.DataFrame:
    """``n`` random MOSES test molecules (ids ``moses-<row>``), the same for a given seed."""
    smiles = pd.read_csv(MOSES_TEST)["SMILES"]
    rows = np.random.default_rng(seed).permutation(len(smiles))[skip : skip + n]
    return pd.DataFrame({"id": [f"moses-{r}" for r in rows], "smiles": smiles.iloc[rows].values})


def _write_smi(table: pd.DataFrame, path: Path) -> Path:
    path.write_text(
        "".join(f"{s} {i}\n" for i, s in zip(table["id"], table["smiles"], strict=True))
    )
    return path


def _top_poses(path: Path) -> list[Any]:
    """The best pose (SD tag ``pose`` = 1) of each molecule in a ``poses.sdf.gz``."""
    import gzip

    from rdkit import Chem

    with gzip.open(path, "rt") as handle:
        text = handle.read()
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, removeHs=False)
    return [m for m in supplier if m is not None and m.GetIntProp("pose") == 1]


def _bust(top: list[Any], target: Any, tmp: Path) -> pd.DataFrame:
    import gzip

    from posebusters import PoseBusters

    protein = tmp / "protein.pdb"
    protein.write_bytes(gzip.decompress((target.path / "protein.pdb.gz").read_bytes()))
    return PoseBusters(config="dock").bust(top, None, str(protein), full_report=False)


def _bust_file(poses: Path, target: Any) -> dict[str, Any]:
    import tempfile

    top = _top_poses(poses)
    with tempfile.TemporaryDirectory(prefix="molspace-pb-") as tmp:
        report = _bust(top, target, Path(tmp))
    checks = report.select_dtypes(bool)
    passed = checks.all(axis=1)
    failing = (~checks).sum().sort_values(ascending=False)
    rate = float(passed.mean()) if len(passed) else math.nan
    print(
        f"PoseBusters (dock config) on the {len(top)} top poses of {poses} on {target.name}: "
        f"{rate:.1%} pass all checks (goal >= 90%)"
    )
    for name, count in failing[failing > 0].items():
        print(f"  failed {name}: {count}")
    return {"poses": str(poses), "posed": len(top), "pass_rate": rate,
            "failures": {str(k): int(v) for k, v in failing.items()}}  # fmt: skip


def posebusters(args: argparse.Namespace) -> dict[str, Any]:
    """PoseBusters' "dock" checks on the top pose of N docked MOSES molecules."""
    import tempfile

    from molspace.docking.run import dock

    target = resolve_target(args.target)
    if args.poses is not None:  # the top poses of an earlier run (a screen's or dock's)
        return _bust_file(args.poses, target)
    n = args.n or 100
    sample = _moses_sample(n, args.seed)
    with tempfile.TemporaryDirectory(prefix="molspace-pb-") as tmp:
        library = _write_smi(sample, Path(tmp) / "moses.smi")
        started = time.perf_counter()
        result = dock(library, target, Path(tmp) / "out", settings=_settings(args),
                      workers=args.workers, force=True)  # fmt: skip
        seconds = time.perf_counter() - started
        table = result.results()
        docked = table[table["status"] == "ok"]
        top = _top_poses(result.poses_path)
        report = _bust(top, target, Path(tmp))
    checks = report.select_dtypes(bool)
    passed = checks.all(axis=1)
    failing = (~checks).sum().sort_values(ascending=False)
    rate = float(passed.mean()) if len(passed) else math.nan
    reasons = table.loc[table["status"] != "ok", "reason"].str.split(":").str[0]
    print(
        f"PoseBusters (dock config) on {len(top)} top poses of {n} MOSES molecules on "
        f"{target.name}: {rate:.1%} pass all checks (goal >= 90%); {n - len(docked)} not docked "
        f"({dict(reasons.value_counts())}); "
        f"{seconds:.0f} s"
    )
    for name, count in failing[failing > 0].items():
        print(f"  failed {name}: {count}")
    return {
        "n": n,
        "docked": len(docked),
        "posed": len(top),
        "pass_rate": rate,
        "failures": {str(k): int(v) for k, v in failing.items()},
        "seconds": round(seconds, 1),
    }


# Approved DHFR inhibitors, found in libraries/drugs/chembl_drugs.csv by their InChIKey
# connectivity (largest fragment). Proguanil is there too but is a prodrug (its metabolite
# cycloguanil inhibits DHFR), so it is not counted as an active.
ACTIVES = {
    "methotrexate": "CN(Cc1cnc2nc(N)nc(N)c2n1)c1ccc(cc1)C(=O)N[C@@H](CCC(O)=O)C(O)=O",
    "trimethoprim": "COc1cc(Cc2cnc(N)nc2N)cc(OC)c1OC",
    "pyrimethamine": "CCc1nc(N)nc(N)c1-c1ccc(Cl)cc1",
    "pralatrexate": "C#CCC(Cc1cnc2nc(N)nc(N)c2n1)c1ccc(cc1)C(=O)N[C@@H](CCC(O)=O)C(O)=O",
    "trimetrexate": "COc1cc(NCc2ccc3nc(N)nc(N)c3c2C)cc(OC)c1OC",
    "pemetrexed": "Nc1nc(=O)c2c(CCc3ccc(cc3)C(=O)N[C@@H](CCC(O)=O)C(O)=O)c[nH]c2[nH]1",
}


def _actives_from_library() -> pd.DataFrame:
    """The actives as written in the shipped drug library (largest fragment of a salt)."""
    from rdkit import Chem

    wanted = {Chem.MolToInchiKey(Chem.MolFromSmiles(s))[:14]: n for n, s in ACTIVES.items()}
    found: dict[str, str] = {}
    for smiles in pd.read_csv(DRUGS)["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            continue
        parent = max(Chem.GetMolFrags(mol, asMols=True), key=lambda m: m.GetNumHeavyAtoms())
        name = wanted.get(Chem.MolToInchiKey(parent)[:14])
        if name is not None and name not in found:
            found[name] = Chem.MolToSmiles(parent)
    missing = set(ACTIVES) - set(found)
    if missing:
        raise SystemExit(f"{DRUGS}: lacks {sorted(missing)}")
    return pd.DataFrame({"id": [f"active-{n}" for n in found], "smiles": list(found.values())})


def enrichment(args: argparse.Namespace) -> dict[str, Any]:
    """Approved DHFR inhibitors against random MOSES molecules: AUROC and ranks."""
    import tempfile

    from sklearn.metrics import roc_auc_score

    from molspace.docking.run import dock

    n = args.n or 1000
    actives = _actives_from_library()
    decoys = _moses_sample(n, args.seed + 1)
    target = resolve_target(args.target)
    with tempfile.TemporaryDirectory(prefix="molspace-enrich-") as tmp:
        library = _write_smi(pd.concat([actives, decoys]), Path(tmp) / "lib.smi")
        started = time.perf_counter()
        result = dock(library, target, Path(tmp) / "out", settings=_settings(args),
                      workers=args.workers, force=True)  # fmt: skip
        seconds = time.perf_counter() - started
        table = result.results()
    docked = table[table["status"] == "ok"].copy()
    docked["active"] = docked["id"].str.startswith("active-")
    docked["rank"] = docked["score"].rank(method="min").astype(int)
    auroc = float(roc_auc_score(docked["active"], -docked["score"]))
    print(
        f"enrichment on {target.name}: {int(docked['active'].sum())} approved DHFR inhibitors vs "
        f"{int((~docked['active']).sum())} docked MOSES molecules (of {n}): AUROC {auroc:.3f} "
        f"(random 0.5); {seconds:.0f} s"
    )
    ranks = {}
    for row in docked[docked["active"]].sort_values("rank").itertuples():
        ranks[row.id] = {"rank": int(row.rank), "score": float(row.score)}
        print(f"  {row.id[7:]:<14} rank {row.rank:>5} of {len(docked)}  {row.score:.2f} kcal/mol")
    not_docked = table.loc[table["status"] != "ok", ["id", "reason"]].values.tolist()
    return {"auroc": auroc, "ranks": ranks, "n_decoys": n, "not_docked": not_docked,
            "seconds": round(seconds, 1)}  # fmt: skip


_POOL_ENGINE: Any = None  # one Vina per process of the multiprocessing baseline


def _pool_init(receptor: str, center: list[float], size: list[float], seed: int) -> None:
    from vina import Vina

    global _POOL_ENGINE
    _POOL_ENGINE = Vina(sf_name="vina", cpu=1, seed=seed, verbosity=0)
    _POOL_ENGINE.set_receptor(receptor)
    _POOL_ENGINE.compute_vina_maps(center=center, box_size=size)


def _pool_dock(job: tuple[str, int, int, int, float]) -> bool:
    """Prepare and dock one molecule in a pool process (the script a chemist would write)."""
    from molspace.docking.ligand import prepare_ligand

    smiles, seed, exhaustiveness, n_poses, energy_range = job
    ligand = prepare_ligand(smiles, seed=seed)
    if ligand.pdbqt is None:
        return False
    _POOL_ENGINE.set_ligand_from_string(ligand.pdbqt)
    _POOL_ENGINE.dock(exhaustiveness=exhaustiveness, n_poses=n_poses)
    _POOL_ENGINE.poses(n_poses, energy_range)
    return True


def _plain_loop(smiles: list[str], receptor: Path, target: Any, settings: Any) -> int:
    """One process: one Vina object, maps computed once, prepare -> dock -> poses."""
    _pool_init(str(receptor), list(target.box.center), list(target.box.size), settings.seed)
    jobs = [(s, settings.seed, settings.exhaustiveness, settings.n_poses, settings.energy_range)
            for s in smiles]  # fmt: skip
    return sum(_pool_dock(job) for job in jobs)


def _pool_loop(
    smiles: list[str], receptor: Path, target: Any, settings: Any, processes: int
) -> int:
    """``multiprocessing.Pool``: each process builds its Vina and maps once, molecules one
    at a time to whichever process is free (``imap_unordered``, chunksize 1)."""
    import multiprocessing

    jobs = [(s, settings.seed, settings.exhaustiveness, settings.n_poses, settings.energy_range)
            for s in smiles]  # fmt: skip
    init = (str(receptor), list(target.box.center), list(target.box.size), settings.seed)
    context = multiprocessing.get_context("spawn")  # as fresh as Dask's worker processes
    with context.Pool(processes, initializer=_pool_init, initargs=init) as pool:
        return sum(pool.imap_unordered(_pool_dock, jobs, chunksize=1))


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    """molspace on a 2-worker LocalCluster against a plain one-process Vina loop and the
    same loop over a 2-process ``multiprocessing.Pool`` (the ceiling of two cores)."""
    import tempfile

    from molspace.docking.run import dock

    n = args.n or 24
    settings = _settings(args)
    target = resolve_target(args.target)
    sample = _moses_sample(n, args.seed + 2)
    smiles = sample["smiles"].tolist()
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="molspace-tp-") as tmp:
        receptor = Path(tmp) / "receptor.pdbqt"
        receptor.write_text(target.receptor_pdbqt)
        started = time.perf_counter()
        plain_ok = _plain_loop(smiles, receptor, target, settings)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        pool_ok = _pool_loop(smiles, receptor, target, settings, args.workers)
        pooled = time.perf_counter() - started
        library = _write_smi(sample, Path(tmp) / "lib.smi")
        started = time.perf_counter()
        result = dock(library, target, Path(tmp) / "out", settings=settings,
                      workers=args.workers, chunk_size=args.chunk_size, force=True)  # fmt: skip
        ours = time.perf_counter() - started
        docked_table = result.results()
    ratio = plain / ours
    funnel = _funnel_savings(docked_table, args.funnel)
    print(
        f"throughput, {n} MOSES molecules on {target.name}, exhaustiveness "
        f"{settings.exhaustiveness}, {args.workers} processes, chunk size {args.chunk_size}:\n"
        f"  plain one-process Vina loop         {plain:7.1f} s ({plain_ok / plain:.3f} mol/s, "
        f"{plain_ok} docked)\n"
        f"  the same loop, multiprocessing.Pool {pooled:7.1f} s ({pool_ok / pooled:.3f} mol/s, "
        f"{pool_ok} docked): {plain / pooled:.2f}x\n"
        f"  molspace dock, LocalCluster         {ours:7.1f} s "
        f"({result.summary['docked'] / ours:.3f} mol/s, {result.summary['docked']} docked, "
        f"cluster start, parts, rejects and poses included): {ratio:.2f}x (goal >= 1.9x), "
        f"{pooled / ours:.2f}x the pool's rate\n"
        f"  load average {load_before} before, {_load()} after"
    )
    print(
        f"funnel (dock the best {args.funnel:.0%} by the cheap QED x SA score of "
        f"workflows/dock_screen.toml): {funnel['funnel']} of {funnel['n']} molecules docked, "
        f"{funnel['saved_seconds_fraction']:.0%} of the Vina seconds saved; it keeps "
        f"{funnel['kept_of_best']} of the {funnel['best']} best-docking molecules"
    )
    return {"n": n, "plain_s": round(plain, 2), "pool_s": round(pooled, 2),
            "dask_s": round(ours, 2), "ratio": round(ratio, 3),
            "pool_ratio": round(plain / pooled, 3), "chunk_size": args.chunk_size,
            "workers": args.workers, "load_before": load_before, "load_after": _load(),
            "funnel": funnel}  # fmt: skip


def _funnel_savings(table: pd.DataFrame, fraction: float) -> dict[str, Any]:
    """What docking only the best ``fraction`` by a cheap score would have saved and lost.

    From the molecules docked in full: the funnel's share of the measured per-molecule
    docking seconds, and how many of the best-scoring ``fraction`` by Vina it keeps.
    """
    from rdkit import Chem

    from molspace.scoring import Objective, ObjectiveSpec

    cheap = Objective.from_spec(
        ObjectiveSpec.model_validate(
            {
                "components": [
                    {"type": "qed"},
                    {"type": "sa", "transform": {"kind": "reverse_sigmoid", "low": 2, "high": 4.5}},
                ]
            }
        )
    )
    docked = table[table["status"] == "ok"].reset_index(drop=True)
    docked["cheap"] = cheap.score_mols([Chem.MolFromSmiles(s) for s in docked["smiles"]])["score"]
    k = max(1, round(fraction * len(docked)))
    funnel = set(docked.nlargest(k, "cheap")["id"])
    best = set(docked.nsmallest(k, "score")["id"])
    seconds = docked["dock_seconds"].sum()
    kept = docked.loc[docked["id"].isin(funnel), "dock_seconds"].sum()
    return {
        "n": len(docked),
        "funnel": k,
        "best": k,
        "kept_of_best": len(funnel & best),
        "saved_seconds_fraction": round(float(1 - kept / seconds), 4) if seconds else None,
    }


SECTIONS = {
    "redock": redock,
    "posebusters": posebusters,
    "enrichment": enrichment,
    "throughput": throughput,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=sorted(SECTIONS))
    parser.add_argument("--exhaustiveness", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=None, help="molecules (section default)")
    parser.add_argument("--target", default="1s3v")
    parser.add_argument("--codes", default=",".join(CODES), help="redock: these targets")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="s per molecule")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--chunk-size", type=int, default=2, help="throughput: per task")
    parser.add_argument("--funnel", type=float, default=0.25, help="throughput: funnel share")
    parser.add_argument(
        "--poses", type=Path, default=None, help="posebusters: check this poses.sdf.gz instead"
    )
    parser.add_argument("--json", type=Path, default=None, help="append results here")
    args = parser.parse_args(argv)
    from molspace.versions import versions

    print(f"{args.section}: load average {_load()} at the start, {os.cpu_count()} cores")
    result = SECTIONS[args.section](args)
    if args.json is not None:
        record = {
            "section": args.section,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            "args": {k: str(v) for k, v in vars(args).items()},
            "result": result,
        }
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
