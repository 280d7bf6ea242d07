"""The opening of a report, top down: the question a run asked, its answer, the funnel of
molecules step by step, the evidence as pictures; tables and raw files come after.

Everything is read from what the run left on disk: ``run.json`` of a workflow (step
kinds, configs, times) and each step's summary (``summary.json`` of a screen, an
optimization or a docking run; ``explore.json``, ``map.json``, ``anomaly.json``,
``interpolation.json`` of the analyses), plus their result tables. A key a summary
lacks is left out rather than guessed, so older runs and partial runs still report.

The package: ``parts`` finds the steps, ``objective`` puts the question in words,
``page`` gathers what each step adds, one module per kind adds it (``screen``,
``optimize``, ``dock``, ``explore``, ``map``, ``anomaly``, ``interpolate``) with
``tables``, ``cards`` and ``pictures``, ``opening`` lays out the result, and
``compose.tell`` runs them in the pipeline's order.
"""

from __future__ import annotations

from molspace.report.story.compose import tell
from molspace.report.story.objective import describe_objective
from molspace.report.story.page import Story
from molspace.report.story.parts import Part, find_parts

__all__ = ["Part", "Story", "describe_objective", "find_parts", "tell"]
