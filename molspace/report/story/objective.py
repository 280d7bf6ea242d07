"""The question in words: a run's [objective] as one line per component.

The report's reader sees what was maximised without opening the TOML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from molspace.report.story.parts import Part

_COMPONENT_WORDS = {
    "qed": "drug-likeness (QED, 0..1)",
    "sa": "synthetic accessibility (SA score, 1 easy .. 10 hard)",
    "logp": "cLogP",
    "clogp": "cLogP",
    "mw": "molecular weight",
    "tpsa": "topological polar surface area",
    "hbd": "H-bond donors",
    "hba": "H-bond acceptors",
    "rotb": "rotatable bonds",
    "heavy_atoms": "heavy atoms",
    "penalized_logp": "penalized logP",
    "alerts": "structural alerts",
    "ring_size": "largest ring size",
    "docking": "docking score",
}


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _transform_words(transform: Mapping[str, Any] | None) -> str:
    if not transform:
        return "as is"
    kind = transform.get("kind", "identity")
    low, high = transform.get("low"), transform.get("high")
    if kind == "sigmoid":
        return f"higher is better (sigmoid: 0 at {_num(low)}, 1 at {_num(high)})"
    if kind == "reverse_sigmoid":
        return f"lower is better (reverse sigmoid: 1 at {_num(low)}, 0 at {_num(high)})"
    if kind == "double_sigmoid":
        width = transform.get("width")
        return f"best between {_num(low)} and {_num(high)} (soft edges, width {_num(width)})"
    if kind == "range":
        return f"1 inside [{_num(low)}, {_num(high)}], falling outside"
    if kind == "linear":
        direction = "lower" if transform.get("reverse") else "higher"
        return f"{direction} is better (linear from {_num(low)} to {_num(high)})"
    if kind == "step":
        side = "at most" if transform.get("reverse") else "at least"
        return f"1 when {side} {_num(transform.get('threshold'))}, else 0"
    return "as is"


def describe_objective(objective: Mapping[str, Any] | None) -> tuple[str, list[str], list[str]]:
    """(one-line aggregation, one line per component, component labels) of an [objective]."""
    if not objective or not objective.get("components"):
        return "", [], []
    lines, labels = [], []
    components = list(objective["components"])
    total = sum(float(c.get("weight", 1.0)) for c in components) or 1.0
    for comp in components:
        kind = str(comp.get("type", "?"))
        label = str(comp.get("name") or kind)
        labels.append(label)
        if kind == "similarity":
            refs = comp.get("smiles") or []
            what = "Tanimoto similarity (Morgan) to " + ", ".join(str(s) for s in refs[:3])
            if len(refs) > 3:
                what += f" and {len(refs) - 3} more"
        elif kind == "substructure":
            what = f"substructure {comp.get('smarts') or comp.get('smiles') or ''}".strip()
        elif kind == "custom":
            what = f"custom function {comp.get('function', '')}".strip()
        else:
            what = _COMPONENT_WORDS.get(kind, kind)
        weight = float(comp.get("weight", 1.0))
        lines.append(
            f"{label}: {what}; {_transform_words(comp.get('transform'))}; "
            f"weight {_num(weight)} ({100 * weight / total:.0f}%)"
        )
    aggregation = objective.get("aggregation", "geometric")
    if aggregation == "geometric":
        head = (
            f"maximize the weighted geometric mean of {len(components)} desirabilities in "
            "[0, 1] (a component at 0 vetoes a molecule)"
        )
    else:
        head = f"maximize the weighted mean of {len(components)} desirabilities in [0, 1]"
    return head, lines, labels


def objective_of(manifest: dict[str, Any] | None, parts: Sequence[Part]) -> dict[str, Any] | None:
    """The run's [objective]: the workflow's, else a step's own, else a screen's."""
    if manifest:
        raw = manifest.get("config", {})
        if isinstance(raw, dict) and isinstance(raw.get("objective"), dict):
            return raw["objective"]
    for part in parts:
        obj = part.config.get("objective")
        if isinstance(obj, dict):
            return obj
        config = part.summary.get("config")
        if isinstance(config, dict) and isinstance(config.get("objective"), dict):
            return config["objective"]
        if isinstance(part.summary.get("objective"), dict):
            return part.summary["objective"]
    return None
