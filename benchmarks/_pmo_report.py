"""The PMO table: molspace's AUC top-10 beside the published rows, compared like for like.

Results are ``{method: {task: [row, ...]}}`` with one row per seed (``seed``,
``auc_top10``, ``n_calls``, ``seconds``, ``top3``, ``best`` and, for the four tasks whose
oracle changed, ``auc_top10_prev``), as ``benchmarks/pmo.py`` writes them or rebuilds
them from call logs.

Why two blocks: PMO's published rows (2022, PyTDC 0.3.6) were computed with the old
isomer scoring on four tasks (``molspace.oracles.pmo_prev``); molspace's oracles are the
corrected ones. Only the 16 other tasks compare like for like against every published
row, so the headline sums are over those 16. The four changed tasks are printed under
both definitions, beside the published rows, with the note that no published row on them
can be matched with certainty; the 20-task sum comes last, with that caveat.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molspace.oracles import PMO_TASKS
from molspace.oracles.pmo_prev import CHANGED_TASKS

#: published columns printed, in this order (keys of the ``pmo_auc_top10`` anchor)
PUBLISHED: tuple[tuple[str, str], ...] = (
    ("reinvent", "REINVENT"),
    ("gp_bo", "GP-BO"),
    ("graph_ga", "Graph GA"),
    ("selfies_vae_bo", "SELFIES-VAE-BO"),
    ("mol_ga", "Mol GA"),
    ("genetic_gfn", "Genetic GFN"),
)
UNCHANGED_TASKS: tuple[str, ...] = tuple(t for t in PMO_TASKS if t not in CHANGED_TASKS)
CHANGED_NOTE = (
    "Published rows on these four come from PyTDC 0.3.6 or earlier (string-based isomer "
    "count; sitagliptin also in a raw-value variant) or, in later papers, from an "
    "unstated TDC version: no published row on them can be matched with certainty. "
    "'_prev' is the AUC of the same run's molecules re-scored with TDC's *_prev oracle; "
    "the search itself optimized molspace's (corrected) oracle."
)

Results = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


def published_value(published: Mapping[str, Any], task: str, key: str) -> float | None:
    """A published AUC as a float (the anchor stores 3-digit strings), None when absent."""
    value = published.get(task, {}).get(key)
    return None if value in (None, "") else float(value)


def _values(results: Results, method: str, task: str, key: str = "auc_top10") -> list[float]:
    return [float(r[key]) for r in results.get(method, {}).get(task, []) if r.get(key) is not None]


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f}±{np.std(values):.3f}"


def _seeds(results: Results, method: str) -> list[int]:
    return sorted({int(r["seed"]) for rows in results.get(method, {}).values() for r in rows})


def seed_sums(results: Results, method: str, tasks: Sequence[str]) -> dict[int, float]:
    """Sum of AUC over ``tasks`` for each seed that has every one of them."""
    out = {}
    for seed in _seeds(results, method):
        values = []
        for task in tasks:
            rows = [r for r in results[method].get(task, []) if int(r["seed"]) == seed]
            if not rows:
                break
            values.append(float(rows[0]["auc_top10"]))
        else:
            out[seed] = float(sum(values))
    return out


def mean_sum(results: Results, method: str, tasks: Sequence[str]) -> float:
    """Sum over ``tasks`` of the per-task mean over seeds (tasks without rows count 0)."""
    return float(sum(np.mean(v) for t in tasks if (v := _values(results, method, t))))


def count_above(
    results: Results, method: str, published: Mapping[str, Any], key: str, tasks: Sequence[str]
) -> tuple[int, int, list[str]]:
    """(tasks where our seed mean is above the published value, tasks compared, those tasks)."""
    above, compared = [], 0
    for task in tasks:
        ours = _values(results, method, task)
        theirs = published_value(published, task, key)
        if not ours or theirs is None:
            continue
        compared += 1
        if float(np.mean(ours)) > theirs:
            above.append(task)
    return len(above), compared, above


def _published_sum(published: Mapping[str, Any], key: str, tasks: Sequence[str]) -> str:
    values = [published_value(published, t, key) for t in tasks]
    present = [v for v in values if v is not None]
    text = f"{sum(present):.3f}"
    return text if len(present) == len(tasks) else f"{text}*"


def print_table(
    results: Results, budget: int, published: Mapping[str, Any], title: str = ""
) -> None:
    """Print the 16-task block, the four changed tasks under both definitions, the
    secondary 20-task sum, counts above REINVENT / SELFIES-VAE-BO, QED and time."""
    methods = [m for m in results if results[m]]
    width = 15
    names = [p[1] for p in PUBLISHED]
    seeds = sorted({s for m in methods for s in _seeds(results, m)})
    print(f"\nPMO AUC top-10, budget {budget:,} unique oracle calls, seeds {seeds}{title}")
    if budget != 10_000:
        print("(published rows are at 10,000 calls; an AUC at another budget is not comparable)")

    print("\n16 tasks whose oracle never changed (ours: mean±sd over seeds, numpy std ddof 0)")
    header = f"{'task':26s}" + "".join(f"{m:>{width}s}" for m in methods)
    print(header + "".join(f"{n:>{width}s}" for n in names))
    for task in UNCHANGED_TASKS:
        cells = [f"{_cell(_values(results, m, task)):>{width}s}" for m in methods]
        for key, _ in PUBLISHED:
            value = published_value(published, task, key)
            cells.append(f"{'-' if value is None else f'{value:.3f}':>{width}s}")
        print(f"{task:26s}" + "".join(cells))
    sums = []
    for m in methods:
        per_seed = seed_sums(results, m, UNCHANGED_TASKS)
        values = list(per_seed.values())
        sums.append(_cell(values) if values else f"{mean_sum(results, m, UNCHANGED_TASKS):.3f}*")
    sums += [_published_sum(published, key, UNCHANGED_TASKS) for key, _ in PUBLISHED]
    print(f"{'sum (16)':26s}" + "".join(f"{s:>{width}s}" for s in sums))
    for m in methods:
        per_seed = seed_sums(results, m, UNCHANGED_TASKS)
        if per_seed:
            text = ", ".join(f"seed {s}: {v:.3f}" for s, v in per_seed.items())
            print(
                f"  {m} 16-task sum per seed: {text}; mean {np.mean(list(per_seed.values())):.3f}"
            )
        for key, name in (("reinvent", "REINVENT"), ("selfies_vae_bo", "SELFIES-VAE-BO")):
            n, compared, _ = count_above(results, m, published, key, UNCHANGED_TASKS)
            if compared:
                print(f"  {m} above {name} on {n} of {compared} tasks")

    print("\nThe 4 tasks whose oracle changed after PMO: molspace under both definitions")
    header = f"{'task':26s}"
    for m in methods:
        header += f"{m + ' (ours)':>{width + 3}s}{m + ' (_prev)':>{width + 3}s}"
    print(header + "".join(f"{n:>{width}s}" for n in names))
    for task in CHANGED_TASKS:
        cells = []
        for m in methods:
            cells.append(f"{_cell(_values(results, m, task)):>{width + 3}s}")
            cells.append(f"{_cell(_values(results, m, task, 'auc_top10_prev')):>{width + 3}s}")
        for key, _ in PUBLISHED:
            value = published_value(published, task, key)
            cells.append(f"{'-' if value is None else f'{value:.3f}':>{width}s}")
        print(f"{task:26s}" + "".join(cells))
    print(textwrap.fill(CHANGED_NOTE, width=100, initial_indent="  ", subsequent_indent="  "))

    print("\nSecondary: all 20 tasks (4 of them compare different oracles, see above)")
    line = f"{'sum (20)':26s}"
    for m in methods:
        per_seed = seed_sums(results, m, PMO_TASKS)
        values = list(per_seed.values())
        line += (
            f"{_cell(values) if values else f'{mean_sum(results, m, PMO_TASKS):.3f}*':>{width}s}"
        )
    line += "".join(
        f"{_published_sum(published, key, PMO_TASKS):>{width}s}" for key, _ in PUBLISHED
    )
    print(line)
    print("  (* : not every task or seed present)")

    for m in methods:
        qed = results[m].get("qed", [])
        if qed:
            best = max(float(r["top3"]) for r in qed)
            print(f"best top-3 QED ({m}): {best:.3f}   (practical maximum 0.948)")
        calls = sum(int(r["n_calls"]) for rows in results[m].values() for r in rows)
        seconds = sum(float(r["seconds"]) for rows in results[m].values() for r in rows)
        if calls:
            print(f"wall time per 1,000 oracle calls ({m}): {1000 * seconds / calls:.1f} s")
        timed = [r for rows in results[m].values() for r in rows if "oracle_seconds" in r]
        if timed:
            inside = sum(float(r["oracle_seconds"]) for r in timed)
            total = sum(float(r["seconds"]) for r in timed)
            print(
                f"  share outside the oracle ({m}): {1 - inside / total:.0%} "
                f"({len(timed)} runs; oracle time measured by scoring each run's molecules again)"
            )
