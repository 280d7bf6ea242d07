"""The page being built: what each step contributes, gathered before the layout.

Steps add to one accumulator so the opening can put the question, answer and funnel of
every step together; one step that fails becomes a note, not a dead report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from molspace.report.sections import FunnelRow, Section, Stat, Table, Text
from molspace.report.story.parts import Part
from molspace.report.story.tables import rel


@dataclass
class Story:
    """The sections of the opening, the numbers behind them, and the files they used."""

    opening: list[Section]
    evidence: list[Section]
    tables: list[Section]
    summary: dict[str, Any]
    used: set[Path]  # files shown in full by the story (the generic pass skips them)


@dataclass
class Acc:
    """What the parts contribute, gathered before the sections are laid out."""

    question: list[tuple[str, str]] = field(default_factory=list)
    stats: list[Stat] = field(default_factory=list)
    funnel: list[FunnelRow] = field(default_factory=list)
    answer: list[Section] = field(default_factory=list)
    answer_lead: str = ""
    after_funnel: list[Section] = field(default_factory=list)
    evidence: list[Section] = field(default_factory=list)
    tables: list[Section] = field(default_factory=list)
    used: set[Path] = field(default_factory=set)
    numbers: dict[str, Any] = field(default_factory=dict)

    def table(
        self,
        title: str,
        frame: pd.DataFrame,
        path: Path,
        report_dir: Path,
        max_rows: int = Table.max_rows,
    ) -> None:
        """A result table linked to the file it shows; that file is then not listed again
        among the raw files."""
        self.tables.append(Table(title, frame, max_rows=max_rows, link=rel(path, report_dir)))
        self.used.add(path)


def guarded(acc: Acc, part: Part, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one step's part of the story; a file it cannot read becomes a visible note
    (a report must not die on one odd file), and the rest of the report goes on."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        acc.tables.append(
            Text(f"{part.name}: not shown", f"could not read {part.folder}: {message}")
        )
        return None
