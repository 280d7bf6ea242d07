"""Standardization with rdMolStandardize: one parent structure per compound.

Order (each step optional): metal disconnection + functional-group
normalization -> largest fragment -> neutralization -> canonical tautomer ->
stereo removal. Normalizing first lets a covalently drawn salt
(``CC(=O)O[Na]``) be split and stripped like an ionic one; neutralizing after
the fragment choice avoids re-balancing charges against a discarded counter-ion.
The rdMolStandardize objects are built once per thread of each process (they are
not documented as thread-safe) and reused for every molecule.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize

from molspace.chem.parse import ParseResult, _detail
from molspace.chem.rdlog import capture_rdkit_log

__all__ = ["StandardizeOptions", "standardize"]


@dataclass(frozen=True)
class StandardizeOptions:
    """Which standardization steps to run (defaults: the usual screening parent)."""

    largest_fragment: bool = True
    neutralize: bool = True
    normalize: bool = True
    canonical_tautomer: bool = False
    remove_stereo: bool = False


_DEFAULT = StandardizeOptions()
_tools = threading.local()


def _tool(name: str) -> Any:
    tool = getattr(_tools, name, None)
    if tool is None:
        if name == "metal":
            tool = rdMolStandardize.MetalDisconnector()
        elif name == "normalizer":
            tool = rdMolStandardize.Normalizer()
        elif name == "fragment":
            tool = rdMolStandardize.LargestFragmentChooser()
        elif name == "uncharger":
            tool = rdMolStandardize.Uncharger(canonicalOrder=True)
        elif name == "tautomer":
            tool = rdMolStandardize.TautomerEnumerator()
        else:  # pragma: no cover - internal names only
            raise KeyError(name)
        setattr(_tools, name, tool)
    return tool


def _run(mol: Chem.Mol, options: StandardizeOptions) -> Chem.Mol:
    out = Chem.Mol(mol)
    if options.normalize:
        out = _tool("metal").Disconnect(out)
        out = _tool("normalizer").normalize(out)
    if options.largest_fragment:
        out = _tool("fragment").choose(out)
    if options.neutralize:
        out = _tool("uncharger").uncharge(out)
    if options.canonical_tautomer:
        out = _tool("tautomer").Canonicalize(out)
    if options.remove_stereo:
        Chem.RemoveStereochemistry(out)
    Chem.SanitizeMol(out)
    return out


def standardize(mol: Chem.Mol, options: StandardizeOptions | None = None) -> ParseResult:
    """Return the standardized parent of ``mol`` (the input is not modified).

    Never raises for a bad molecule: failures come back as
    ``ParseResult(None, "standardize_error: <RDKit message>")``.
    """
    options = options or _DEFAULT
    with capture_rdkit_log() as log:
        try:
            out = _run(mol, options)
        except Exception as exc:  # RDKit raises many kinds of errors on odd structures
            message = _detail(str(exc)) or type(exc).__name__
            return ParseResult(None, f"standardize_error: {message}", tuple(log.messages))
    if out.GetNumAtoms() == 0:
        return ParseResult(None, "standardize_error: no atoms left", tuple(log.messages))
    return ParseResult(out, None, tuple(log.messages))
