"""The opening laid out: the question, the answer and the funnel as sections, and the
numbers behind them as the summary saved beside the report (the browser test checks
that the two agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from molspace.report.sections import Facts, Funnel, Headline, Section
from molspace.report.story.page import Acc


def lay_out(acc: Acc) -> list[Section]:
    """The opening's sections, in reading order; an empty part is left out."""
    opening: list[Section] = []
    if acc.question:
        opening.append(Facts("The question", acc.question))
    if acc.stats or acc.answer:
        opening.append(Headline("The answer", acc.stats, lead=acc.answer_lead, parts=acc.answer))
    if acc.funnel:
        opening.append(Funnel("The funnel: molecules kept at each stage", acc.funnel))
    opening.extend(acc.after_funnel)
    return opening


def summarize(
    root: Path,
    manifest: dict[str, Any] | None,
    kinds: Iterable[str],
    head: str,
    lines: list[str],
    acc: Acc,
) -> dict[str, Any]:
    """The opening's numbers, keyed as the page's ``data-key`` elements."""
    steps = {}
    if manifest:
        for name, record in manifest.get("steps", {}).items():
            if isinstance(record, dict) and record.get("kind") != "report":
                steps[name] = {
                    "kind": record.get("kind"),
                    "status": record.get("status"),
                    "seconds": record.get("seconds"),
                }
    summary = {
        "run_dir": str(root.resolve()),
        "kinds": sorted(kinds),
        "question": {"objective": head, "components": lines, "facts": dict(acc.question[:0])},
        "answer": {s.key: s.value for s in acc.stats},
        "funnel": {
            r.key: {"stage": r.stage, "count": r.count, "step": r.step, "seconds": r.seconds}
            for r in acc.funnel
        },
        "steps": steps,
        **acc.numbers,
    }
    summary["question"]["facts"] = {k: v for k, v in acc.question if k}
    return summary
