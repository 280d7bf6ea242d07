"""Where a run's steps lie: the workflow manifest and each step's summary, by kind.

A step is recognised by the file it leaves (``explore.json`` ...) or by the keys of its
``summary.json``; folders of partial outputs (``parts``, ``cache`` ...) are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SKIP_DIRS = {"parts", "cache", "checkpoint", "latent", "rejects"}


_ANALYSES = {
    "explore.json": "explore",
    "map.json": "map",
    "anomaly.json": "anomaly",
    "interpolation.json": "interpolate",
}


@dataclass
class Part:
    """One step's outputs: its kind, where its summary lies, and its time when known."""

    kind: str  # screen | optimize | dock | explore | map | anomaly | interpolate
    name: str  # the workflow step's name, or the folder's
    folder: Path  # the folder holding its summary
    summary: dict[str, Any]
    seconds: float | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the workflow step's config


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _kind_of_summary(data: Mapping[str, Any], folder: Path) -> str | None:
    if "n_oracle_calls" in data:
        return "optimize"
    if "docked" in data and "rows_in" in data:
        return "dock"
    if "rows_in" in data and "accepted" in data:
        return "screen"
    del folder
    return None


def find_parts(root: Path) -> tuple[dict[str, Any] | None, list[Part]]:
    """The workflow manifest (None for a single command's folder) and every step found."""
    manifest = _load_json(root / "run.json")
    steps: dict[str, Any] = (manifest or {}).get("steps", {}) if manifest else {}
    if manifest is not None and not isinstance(steps, dict):
        steps = {}
    parts: list[Part] = []
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        kind = _ANALYSES.get(path.name)
        data = _load_json(path) if (kind or path.name == "summary.json") else None
        if data is None:
            continue
        kind = kind or _kind_of_summary(data, path.parent)
        if kind is None:
            continue
        step = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in steps else None
        record = steps.get(step, {}) if step else {}
        seconds = record.get("seconds") if isinstance(record, dict) else None
        parts.append(
            Part(
                kind=kind,
                name=step or (str(rel.parent) if str(rel.parent) != "." else root.name),
                folder=path.parent,
                summary=data,
                seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
                config=record.get("config", {}) if isinstance(record, dict) else {},
            )
        )
    return manifest, parts
