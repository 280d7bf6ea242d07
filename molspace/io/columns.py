"""Which input column holds the SMILES, which the id, and what the others are called.

Shared by every reader with named columns (CSV/TSV, a ``.smi`` with a header,
Parquet) so the same file content selects the same columns in every format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from molspace.errors import InputError
from molspace.io.chunk import RESERVED_COLUMNS

__all__ = ["ID_NAMES", "SMILES_NAMES", "ColumnPlan", "is_smiles_header", "plan_columns"]

#: auto-detected SMILES column names, in priority order (compared case-insensitively)
SMILES_NAMES = ("smiles", "canonical_smiles", "isomeric_smiles", "smi")
#: auto-detected id column names (case-insensitive); anything else needs ``id_column``
ID_NAMES = ("id",)


def is_smiles_header(token: str) -> bool:
    """True when ``token`` reads as a SMILES column name (no SMILES spells one)."""
    return token.strip().lower() in SMILES_NAMES


@dataclass(frozen=True)
class ColumnPlan:
    """Positions of the SMILES and id columns and output names of the others."""

    names: tuple[str, ...]
    smiles: int
    id: int | None
    extra: tuple[tuple[int, str], ...]


def unique_names(names: Sequence[str]) -> list[str]:
    """Header names made non-empty and unique (``col``, ``col.1``...), as pandas does."""
    out: list[str] = []
    seen: set[str] = set()
    for position, name in enumerate(names, 1):
        base = name.strip() or f"column_{position}"
        candidate, n = base, 0
        while candidate in seen:
            n += 1
            candidate = f"{base}.{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _show(names: Sequence[str], limit: int = 20) -> str:
    """Column names for a one-line message: control characters escaped, list capped."""
    if not names:
        return "none"
    shown = [n if n.isprintable() and len(n) <= 60 else repr(n[:60]) for n in names[:limit]]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(shown) + more


def _find(names: Sequence[str], wanted: str) -> int | None:
    if wanted in names:
        return names.index(wanted)
    folded = [i for i, n in enumerate(names) if n.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def plan_columns(
    source: str,
    names: Sequence[str],
    smiles_column: str | None,
    id_column: str | None,
) -> ColumnPlan:
    """Choose the SMILES and id columns among ``names``.

    The SMILES column is ``smiles_column`` or the first of ``SMILES_NAMES``
    present (case-insensitive); the id column is ``id_column`` or a column named
    ``id``. Other columns keep their names, except that a name the pipeline owns
    (``source``, ``row``, ``status``...) gets an ``_input`` suffix. A missing
    column is an ``InputError`` that lists the columns the file does have.
    """
    names = unique_names(names)
    shown = _show(names)
    if smiles_column is not None:
        smiles = _find(names, smiles_column)
        if smiles is None:
            raise InputError(f"{source}: no column {smiles_column!r} (columns: {shown})")
    else:
        smiles = next(
            (i for want in SMILES_NAMES for i, n in enumerate(names) if n.lower() == want),
            None,
        )
        if smiles is None:
            raise InputError(
                f"{source}: no SMILES column found (looked for "
                f"{'/'.join(SMILES_NAMES)}; columns: {shown}); name it with smiles_column"
            )
    if id_column is not None:
        ident = _find(names, id_column)
        if ident is None:
            raise InputError(f"{source}: no id column {id_column!r} (columns: {shown})")
        if ident == smiles:
            raise InputError(f"{source}: id column {id_column!r} is the SMILES column")
    else:
        ident = next(
            (i for i, n in enumerate(names) if n.lower() in ID_NAMES and i != smiles), None
        )
    taken = {names[i] for i in range(len(names)) if i not in (smiles, ident)}
    extra = []
    for i, name in enumerate(names):
        if i in (smiles, ident):
            continue
        out = name
        while out in RESERVED_COLUMNS or (out != name and out in taken):
            out = f"{out}_input"
        extra.append((i, out))
    return ColumnPlan(tuple(names), smiles, ident, tuple(extra))
