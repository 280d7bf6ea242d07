"""Safe SMILES parsing: an RDKit molecule, or a rejection with a reason that quotes RDKit.

Reasons are ``category`` or ``category: detail`` strings (see :data:`REASONS`);
compare categories with :func:`reason_category`. Caps are checked before the
expensive work: length first (free), then heavy atoms. A SMILES string cannot
hold more atoms than characters, so the heavy-atom count needs an (unsanitized,
cheap) pre-parse only for strings longer than ``max_heavy_atoms``; everything
else goes straight to one ordinary ``Chem.MolFromSmiles`` so the molecule is
exactly what RDKit users expect (H removal, stereo perception included).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rdkit import Chem

from molspace.chem.rdlog import RDKitLog, capture_rdkit_log, error_log_enabled
from molspace.errors import InvalidMoleculeError

__all__ = [
    "REASONS",
    "ParseResult",
    "canonical_smiles",
    "inchikey",
    "mol_from_smiles",
    "parse_smiles",
    "reason_category",
]

#: every reason category :func:`parse_smiles` and ``standardize`` can return
REASONS = (
    "empty",
    "too_long",
    "parse_error",
    "sanitize_error",
    "too_many_atoms",
    "no_atoms",
    "standardize_error",
)

_WHITESPACE = re.compile(r"\s")
_MAX_DETAIL = 300  # a reason is one line in a table, not a dump of a 1000-char SMILES


@dataclass(frozen=True)
class ParseResult:
    """A molecule, or ``None`` and the reason it was rejected.

    ``log`` keeps every message RDKit logged while producing this result (warnings
    included), for users who want more than the one-line reason.
    """

    mol: Chem.Mol | None
    reason: str | None
    log: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.mol is not None


def reason_category(reason: str | None) -> str | None:
    """``"parse_error: SMILES Parse Error: ..."`` -> ``"parse_error"``."""
    if reason is None:
        return None
    return reason.split(":", 1)[0]


def _detail(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > _MAX_DETAIL:
        message = message[: _MAX_DETAIL - 3] + "..."
    return message


def _reject(reason: str, log: RDKitLog | None = None) -> ParseResult:
    return ParseResult(None, reason, tuple(log.messages) if log else ())


def _parse_failure(smiles: str, log: RDKitLog) -> str:
    """Classify a failed ``MolFromSmiles``: syntax (parse) or chemistry (sanitize)."""
    syntax = log.first("SMILES Parse Error")
    if syntax is not None:
        return f"parse_error: {_detail(syntax)}"
    errors = log.errors
    if errors:
        return f"sanitize_error: {_detail(errors[0])}"
    # RDKit's error log was silenced elsewhere (RDLogger.DisableLog): ask again, louder
    with error_log_enabled(), capture_rdkit_log() as retry:
        raw = Chem.MolFromSmiles(smiles, sanitize=False)
    if raw is None:
        syntax = retry.first("SMILES Parse Error")
        return f"parse_error: {_detail(syntax) if syntax else 'invalid SMILES syntax'}"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit raises several MolSanitizeException subclasses
        return f"sanitize_error: {_detail(str(exc)) or type(exc).__name__}"
    return "sanitize_error: RDKit could not build the molecule"


def _trailing_text(text: str) -> str | None:
    """Text after inner whitespace, unless it is a CXSMILES extension block (``|...|``)."""
    if _WHITESPACE.search(text) is None:
        return None
    rest = text.split(None, 1)[1]
    return None if rest.startswith("|") else rest


def _has_heavy_atom(mol: Chem.Mol) -> bool:
    # GetNumHeavyAtoms costs ~20 us; almost every SMILES starts with a heavy atom
    if mol.GetNumAtoms() == 0:
        return False
    return mol.GetAtomWithIdx(0).GetAtomicNum() > 1 or mol.GetNumHeavyAtoms() > 0


def parse_smiles(smiles: str, *, max_length: int = 1000, max_heavy_atoms: int = 150) -> ParseResult:
    """Parse one SMILES; never raises for bad input and never prints RDKit's log.

    Surrounding whitespace is ignored. ``None`` and NaN (missing cells in a table)
    are ``"empty"``. Reasons: ``empty``, ``too_long`` (more than ``max_length``
    characters), ``parse_error: <RDKit message>``, ``sanitize_error: <RDKit
    message>``, ``too_many_atoms`` (more than ``max_heavy_atoms`` heavy atoms),
    ``no_atoms``.
    """
    if smiles is None or (isinstance(smiles, float) and math.isnan(smiles)):
        return _reject("empty")
    if not isinstance(smiles, str):
        return _reject(f"parse_error: expected a SMILES string, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        return _reject("empty")
    if len(text) > max_length:
        return _reject("too_long")
    extra = _trailing_text(text)
    if extra is not None:
        # RDKit would read it as the molecule's name and drop it silently
        return _reject(f"parse_error: unexpected text after the SMILES: {_detail(extra)!r}")
    with capture_rdkit_log() as log:
        try:
            if len(text) > max_heavy_atoms:
                raw = Chem.MolFromSmiles(text, sanitize=False)
                if raw is None:
                    return _reject(_parse_failure(text, log), log)
                if raw.GetNumHeavyAtoms() > max_heavy_atoms:
                    return _reject("too_many_atoms", log)
            mol = Chem.MolFromSmiles(text)
        except Exception as exc:  # e.g. text RDKit cannot even receive (lone surrogates)
            return _reject(f"parse_error: {_detail(str(exc)) or type(exc).__name__}", log)
        if mol is None:
            return _reject(_parse_failure(text, log), log)
    if not _has_heavy_atom(mol):  # empty, hydrogen-only or dummy-only: nothing to screen
        return _reject("no_atoms", log)
    return ParseResult(mol, None, tuple(log.messages))


def mol_from_smiles(smiles: str) -> Chem.Mol:
    """Parse a molecule the user named explicitly (a lead, a query); raise if it is invalid.

    Raises:
        InvalidMoleculeError: ``"<smiles>: <reason>"``.
    """
    result = parse_smiles(smiles)
    if result.mol is None:
        raise InvalidMoleculeError(f"{smiles}: {result.reason}")
    return result.mol


def canonical_smiles(mol: Chem.Mol) -> str:
    """RDKit canonical isomeric SMILES (the identity key of a molecule across molspace)."""
    return Chem.MolToSmiles(mol)


def inchikey(mol: Chem.Mol) -> str:
    """Standard InChIKey, or ``""`` when the InChI library cannot handle the molecule.

    InChI warnings (e.g. about undefined stereo) are captured, not printed.
    """
    with capture_rdkit_log():
        try:
            return Chem.MolToInchiKey(mol) or ""
        except Exception:  # InChI failures surface as assorted RDKit errors
            return ""
