"""``screen_partition``: one table of library records in, the same rows screened out.

Pure and executor-agnostic: the same call runs in-process, in a test and inside a
Dask worker. Per row, in order: parse (length/atom caps) -> standardize ->
canonical SMILES and dedup key -> within-partition dedup -> descriptor panel ->
filters -> objective; then, vectorized over the partition, similarity to the
query set and the objective's desirabilities and score.

Output columns (input columns first, unchanged and in order):

=====================  =============================================================
``status``             ``"ok"`` or ``"rejected"`` (unparseable, failed standardization,
                       or RDKit raised on the molecule)
``reason``             why a row was rejected (``parse_error: ...``), else null
``canonical_smiles``   RDKit canonical SMILES of the standardized parent
``inchikey``           standard InChIKey (only with ``dedup = "inchikey"``)
``passed``             True when the molecule passed every filter
``failed_filter``      first failed filter (``duplicate``, a rule, a property name,
                       ``include_smarts``, ``exclude_smarts``, ``alerts``, ``sanity``,
                       ``min_similarity``, ``min_score``), else null
``pass_<filter>``      each filter's verdict (null when not evaluated)
``alert``              first matching structural alert (``family:description``)
``sanity``             why the molecule fails the sanity filter (``ring_size: ...``)
descriptors            ``screen.descriptors`` (float; NaN where RDKit failed)
objective              each component's raw value, ``<name>_desirability``, ``score``
``query_id``           the most similar query (with ``[similarity]``)
``query_similarity``   its Tanimoto similarity
=====================  =============================================================

A molecule that makes RDKit raise is rejected with ``error: <type>: <message>``;
it never fails the partition.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem

from molspace.screening.spec import ScreenSpec

__all__ = ["Screener", "filter_names", "run_partition", "screen_partition"]

OK, REJECTED = "ok", "rejected"


def filter_names(spec: ScreenSpec) -> list[str]:
    """The filters of ``spec`` in evaluation order (names used in ``failed_filter``)."""
    f = spec.filters
    names = [*f.rules, *f.properties]
    if f.include_smarts:
        names.append("include_smarts")
    if f.exclude_smarts:
        names.append("exclude_smarts")
    if f.alerts:
        names.append("alerts")
    if f.sanity:
        names.append("sanity")
    if f.min_similarity is not None:
        names.append("min_similarity")
    if f.min_score is not None:
        names.append("min_score")
    return names


@dataclass
class _Rows:
    """Per-row results collected by the molecule loop of one partition."""

    n: int
    status: list[str] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    canonical: list[str | None] = field(default_factory=list)
    key: list[str | None] = field(default_factory=list)
    duplicate: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    mols: list[Chem.Mol | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = [OK] * self.n
        self.reason = [None] * self.n
        self.canonical = [None] * self.n
        self.key = [None] * self.n
        self.duplicate = np.zeros(self.n, dtype=bool)
        self.mols = [None] * self.n


class Screener:
    """Everything ``screen_partition`` needs, built once per process from a spec."""

    def __init__(self, spec: ScreenSpec) -> None:
        from molspace.chem import (
            RULE_PROPERTIES,
            AlertCatalog,
            StandardizeOptions,
            StructureSanity,
            compile_smarts,
        )
        from molspace.scoring import Objective

        self.spec = spec
        s = spec.standardize
        self.std_options = (
            StandardizeOptions(
                largest_fragment=s.largest_fragment,
                neutralize=s.neutralize,
                normalize=s.normalize,
                canonical_tautomer=s.canonical_tautomer,
                remove_stereo=s.remove_stereo,
            )
            if s.enabled
            else None
        )
        f = spec.filters
        self.filters = filter_names(spec)
        self.include = [compile_smarts(p) for p in f.include_smarts]
        self.exclude = [compile_smarts(p) for p in f.exclude_smarts]
        self.alerts = AlertCatalog(tuple(f.alerts)) if f.alerts else None
        self.sanity = (
            StructureSanity(
                frozenset(f.ring_sizes),
                frozenset(f.allowed_elements) if f.allowed_elements else None,
                rings=f.ring_sanity,
            )
            if f.sanity
            else None
        )
        self.objective = Objective.from_spec(spec.objective) if spec.objective else None
        needed: list[str] = list(spec.screen.descriptors)
        for rule in f.rules:
            needed.extend(RULE_PROPERTIES[rule])
        needed.extend(f.properties)
        if self.objective is not None:
            needed.extend(self.objective.property_names)
        self.properties = tuple(dict.fromkeys(needed))
        self.queries = None
        if spec.similarity is not None:
            from molspace.chem import mol_from_smiles
            from molspace.similarity import PackedFingerprints

            fp = spec.similarity.fingerprint
            mols = [mol_from_smiles(s) for s in spec.similarity.queries]
            if self.std_options is not None:  # compare parents with parents (salts stripped)
                from molspace.chem import standardize

                mols = [standardize(m, self.std_options).mol or m for m in mols]
            self.queries = PackedFingerprints.from_mols(mols, fp.kind, fp.radius, fp.n_bits)
            self.query_ids = np.array(spec.similarity.ids(), dtype=object)

    # -- per molecule --------------------------------------------------------------------

    def _prepare(self, smiles: str) -> tuple[Chem.Mol | None, str | None]:
        from molspace.chem import parse_smiles, standardize

        opts = self.spec.screen
        parsed = parse_smiles(
            smiles, max_length=opts.max_length, max_heavy_atoms=opts.max_heavy_atoms
        )
        if parsed.mol is None:
            return None, parsed.reason
        if self.std_options is None:
            return parsed.mol, None
        result = standardize(parsed.mol, self.std_options)
        return result.mol, result.reason

    def _key(self, mol: Chem.Mol, canonical: str) -> str | None:
        dedup = self.spec.screen.dedup
        if dedup == "none":
            return None
        if dedup == "smiles":
            return canonical
        from molspace.chem import inchikey

        # a molecule InChI cannot handle keeps a key: its canonical SMILES
        return inchikey(mol) or f"smiles:{canonical}"

    def _filters(
        self, mol: Chem.Mol, props: dict[str, float]
    ) -> tuple[dict[str, bool], str | None, str | None]:
        """Verdicts by filter, the first alert and the sanity reason."""
        from molspace.chem import rule_passes

        f = self.spec.filters
        verdicts: dict[str, bool] = {}
        short = self.spec.screen.short_circuit
        checks: list[tuple[str, Callable[[], bool]]] = [
            *((r, functools.partial(rule_passes, r, props, mol)) for r in f.rules),
            *(
                (p, functools.partial(_in_range, props[p], rng.min, rng.max))
                for p, rng in f.properties.items()
            ),
        ]
        if self.include:
            checks.append(
                ("include_smarts", lambda: any(mol.HasSubstructMatch(p) for p in self.include))
            )
        if self.exclude:
            checks.append(
                ("exclude_smarts", lambda: not any(mol.HasSubstructMatch(p) for p in self.exclude))
            )
        alert: str | None = None
        for name, check in checks:
            verdicts[name] = bool(check())
            if short and not verdicts[name]:
                return verdicts, None, None
        if self.alerts is not None:
            alert = self.alerts.first_match(mol)
            verdicts["alerts"] = alert is None
            if short and alert is not None:
                return verdicts, alert, None
        sanity: str | None = None
        if self.sanity is not None:
            sanity = self.sanity.reason(mol)
            verdicts["sanity"] = sanity is None
        return verdicts, alert, sanity

    # -- the partition ---------------------------------------------------------------------

    def run(self, table: pd.DataFrame) -> pd.DataFrame:
        n = len(table)
        rows = _Rows(n)
        descriptors: dict[str, np.ndarray] = {p: np.full(n, np.nan) for p in self.properties}
        verdicts: dict[str, list[Any]] = {name: [None] * n for name in self.filters}
        alerts: list[str | None] = [None] * n
        sanity: list[str | None] = [None] * n
        raw: list[dict[str, float] | None] = [None] * n
        seen: set[str] = set()
        smiles = table["smiles"].tolist()
        from molspace.chem import canonical_smiles, compute_properties

        for i, text in enumerate(smiles):
            try:
                mol, reason = self._prepare(text)
                if mol is None:
                    rows.status[i], rows.reason[i] = REJECTED, reason
                    continue
                canonical = canonical_smiles(mol)
                key = self._key(mol, canonical)
                rows.canonical[i], rows.key[i] = canonical, key
                if key is not None and key in seen:
                    rows.duplicate[i] = True
                    continue
                props = compute_properties(mol, self.properties)
                row_verdicts, alerts[i], sanity[i] = self._filters(mol, props)
                for name, value in row_verdicts.items():
                    verdicts[name][i] = value
                failed = not all(row_verdicts.values())
                if self.objective is not None and not (failed and self.spec.screen.short_circuit):
                    raw[i] = self.objective.raw_values(mol, props)
                for name, prop in props.items():
                    descriptors[name][i] = prop
                rows.mols[i] = mol
                if key is not None:
                    seen.add(key)  # only a molecule screened in full is a duplicate's original
            except Exception as exc:  # RDKit raised on this molecule: reject it, go on
                rows.status[i] = REJECTED
                rows.reason[i] = f"error: {type(exc).__name__}: {_one_line(exc)}"
                rows.canonical[i] = rows.key[i] = None
                rows.mols[i] = None
                for name in self.filters:
                    verdicts[name][i] = None
                raw[i] = None
        return self._assemble(table, rows, descriptors, verdicts, (alerts, sanity), raw)

    def _assemble(
        self,
        table: pd.DataFrame,
        rows: _Rows,
        descriptors: dict[str, np.ndarray],
        verdicts: dict[str, list[Any]],
        reasons: tuple[list[str | None], list[str | None]],
        raw: list[dict[str, float] | None],
    ) -> pd.DataFrame:
        n = len(table)
        alerts, sanity = reasons
        out = table.reset_index(drop=True).copy()
        ok = np.array([s == OK for s in rows.status], dtype=bool)
        evaluated = ok & ~rows.duplicate
        out["status"] = pd.array(rows.status, dtype="string")
        out["reason"] = pd.array(rows.reason, dtype="string")
        out["canonical_smiles"] = pd.array(rows.canonical, dtype="string")
        if self.spec.screen.dedup == "inchikey":
            out["inchikey"] = pd.array(rows.key, dtype="string")
        for name in self.spec.screen.descriptors:
            out[name] = descriptors[name]
        extra: dict[str, Any] = {}
        if self.objective is not None:
            names = self.objective.component_names
            raw_table = pd.DataFrame(
                [r if r is not None else dict.fromkeys(names, math.nan) for r in raw],
                columns=list(names),
                dtype=float,
            )
            scored = self.objective.score_table(raw_table)
            for column in scored.columns:
                if column in out.columns:
                    continue
                out[column] = scored[column].to_numpy()
            extra["min_score"] = scored["score"].to_numpy()
        if self.queries is not None:
            from molspace.similarity import PackedFingerprints, nearest

            fp = self.spec.similarity.fingerprint  # type: ignore[union-attr]
            index = np.flatnonzero(evaluated)
            packed = PackedFingerprints.from_mols(
                [rows.mols[i] for i in index], fp.kind, fp.radius, fp.n_bits
            )
            best, sim = nearest(self.queries, packed)
            query_id = np.full(n, None, dtype=object)
            similarity = np.full(n, np.nan)
            query_id[index] = self.query_ids[best] if len(index) else []
            similarity[index] = sim
            out["query_id"] = pd.array(query_id, dtype="string")
            out["query_similarity"] = similarity
            extra["min_similarity"] = similarity
        f = self.spec.filters
        thresholds = {"min_similarity": f.min_similarity, "min_score": f.min_score}
        for name, threshold in thresholds.items():
            if threshold is None:
                continue
            values = extra[name]
            column = verdicts[name]
            for i in np.flatnonzero(evaluated).tolist():
                prior = all(verdicts[v][i] is not False for v in self.filters if v != name)
                if self.spec.screen.short_circuit and not prior:
                    continue
                column[i] = bool(values[i] >= threshold) if not np.isnan(values[i]) else False
        failed_filter: list[str | None] = [None] * n
        passed = np.zeros(n, dtype=bool)
        for i in range(n):
            if not ok[i]:
                continue
            if rows.duplicate[i]:
                failed_filter[i] = "duplicate"
                continue
            first = next((name for name in self.filters if verdicts[name][i] is False), None)
            failed_filter[i] = first
            passed[i] = first is None
        out["passed"] = passed
        out["failed_filter"] = pd.array(failed_filter, dtype="string")
        for name in self.filters:
            out[f"pass_{name}"] = pd.array(verdicts[name], dtype="boolean")
        if self.alerts is not None:
            out["alert"] = pd.array(alerts, dtype="string")
        if self.sanity is not None:
            out["sanity"] = pd.array(sanity, dtype="string")
        return out


def _in_range(value: float, low: float | None, high: float | None) -> bool:
    if value != value:  # NaN: RDKit could not compute it, so it cannot be in range
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


@functools.lru_cache(maxsize=4)
def _screener(spec_json: str) -> Screener:
    return Screener(ScreenSpec.model_validate_json(spec_json))


def screen_partition(table: pd.DataFrame, spec: ScreenSpec) -> pd.DataFrame:
    """Screen one partition of library records (``source,row,id,smiles,...``); see module doc."""
    if "smiles" not in table.columns:
        from molspace.errors import InputError

        raise InputError("screen_partition needs a 'smiles' column")
    return _screener(spec.model_dump_json()).run(table)


def run_partition(
    records: pd.DataFrame, rejects: pd.DataFrame, spec_json: str
) -> tuple[pd.DataFrame, float]:
    """The task a worker runs: screen ``records``, fold the reader's ``rejects`` in, time it.

    Returns every row read for the chunk, in file order, and the seconds it took.
    """
    start = time.perf_counter()
    table = _screener(spec_json).run(records)
    if len(rejects):
        bad = pd.DataFrame(
            {
                "source": rejects["source"].to_numpy(),
                "row": rejects["row"].to_numpy(dtype=np.int64),
                "id": rejects["id"].to_numpy(),
                "smiles": rejects["input"].to_numpy(),
                "status": REJECTED,
                "reason": rejects["reason"].to_numpy(),
            }
        )
        bad["passed"] = False
        frames = [t for t in (table, bad) if len(t)]
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else bad
        table = table.sort_values("row", kind="stable", ignore_index=True)
        table["passed"] = table["passed"].astype(bool)
        for column in ("status", "reason", "canonical_smiles", "failed_filter"):
            if column in table.columns:
                table[column] = table[column].astype("string")
    return table, time.perf_counter() - start
