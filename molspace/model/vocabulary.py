"""SELFIES vocabulary: SMILES -> canonical SMILES -> SELFIES symbols -> integer tokens, and back.

Why SELFIES: every symbol string decodes to a valid molecule, so a decoder cannot
emit an invalid one. Why strict encoding: ``selfies.encoder(strict=False)`` silently
rewrites molecules it cannot express (e.g. uncharged nitro groups); we reject them
with the encoder's reason instead.

Stereo: by default (``stereo=False``) stereochemistry is removed before encoding.
The shipped MOSES model is trained on stereo-free molecules, so its alphabet has no
``@``/``/``/``\\`` symbols; keeping stereo would reject every chiral user molecule,
while removing it encodes the constitution, which is what the model learned.
Isotopes and charges are kept, so an isotope-labelled molecule is rejected with an
"unknown symbol" reason rather than silently changed.

Token layout of one molecule (``max_length`` symbols at most)::

    s_1 s_2 ... s_n <end> [nop] [nop] ...      (width max_length + 1)

and the decoder input is ``<start> s_1 ... s_n`` (teacher forcing).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import selfies as sf

from molspace.errors import VocabularyError

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIAL_SYMBOLS",
    "EncodedSmiles",
    "Vocabulary",
    "build_vocabulary",
    "canonicalize_for_vocab",
    "smiles_to_selfies",
]

PAD_SYMBOL = "[nop]"
BOS_SYMBOL = "<start>"
EOS_SYMBOL = "<end>"
SPECIAL_SYMBOLS = (PAD_SYMBOL, BOS_SYMBOL, EOS_SYMBOL)
PAD, BOS, EOS = 0, 1, 2

MAX_SMILES_LENGTH = 1000
MAX_HEAVY_ATOMS = 150


@dataclass(frozen=True)
class EncodedSmiles:
    """One input molecule after canonicalization and SELFIES encoding (``reason`` on failure)."""

    smiles: str | None
    selfies: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _parse(smiles: str) -> tuple[Any, str | None]:
    """RDKit molecule or a reason, with the same reasons as everywhere else (molspace.chem)."""
    from molspace.chem import parse_smiles

    result = parse_smiles(smiles, max_length=MAX_SMILES_LENGTH, max_heavy_atoms=MAX_HEAVY_ATOMS)
    return result.mol, result.reason


def canonicalize_for_vocab(smiles: str, *, stereo: bool = False) -> tuple[str | None, str | None]:
    """Canonical SMILES as the model sees it (stereo removed unless ``stereo``), or a reason."""
    from rdkit import Chem

    mol, reason = _parse(smiles)
    if mol is None:
        return None, reason
    if not stereo:
        mol = Chem.Mol(mol)
        Chem.RemoveStereochemistry(mol)
    return Chem.MolToSmiles(mol), None


def smiles_to_selfies(smiles: str, *, stereo: bool = False) -> EncodedSmiles:
    """Canonicalize with RDKit, then ``selfies.encoder(strict=True)``; never raises on bad input."""
    canonical, reason = canonicalize_for_vocab(smiles, stereo=stereo)
    if canonical is None:
        return EncodedSmiles(None, None, reason)
    try:
        encoded = sf.encoder(canonical, strict=True)
    except sf.EncoderError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return EncodedSmiles(canonical, None, f"selfies_error: {message}")
    if encoded is None:
        return EncodedSmiles(canonical, None, "selfies_error: encoder returned nothing")
    return EncodedSmiles(canonical, encoded, None)


def _encode_chunk(args: tuple[list[str], bool]) -> list[EncodedSmiles]:
    smiles, stereo = args
    return [smiles_to_selfies(s, stereo=stereo) for s in smiles]


def encode_many(
    smiles: Sequence[str], *, stereo: bool = False, processes: int = 1, chunk: int = 20_000
) -> list[EncodedSmiles]:
    """``smiles_to_selfies`` over many molecules, optionally in worker processes (order kept)."""
    items = [str(s) for s in smiles]
    if processes <= 1 or len(items) < 2 * chunk:
        return _encode_chunk((items, stereo))
    import multiprocessing as mp

    parts = [(items[i : i + chunk], stereo) for i in range(0, len(items), chunk)]
    with mp.get_context("spawn").Pool(processes) as pool:
        out: list[EncodedSmiles] = []
        for result in pool.imap(_encode_chunk, parts):
            out.extend(result)
    return out


@dataclass(frozen=True)
class Vocabulary:
    """A SELFIES alphabet with special tokens, a length limit and the stereo rule.

    ``symbols[0:3]`` are always ``[nop]`` (padding), ``<start>``, ``<end>``.
    """

    symbols: tuple[str, ...]
    max_length: int
    stereo: bool = False
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _atom_mask: tuple[bool, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.symbols[:3]) != SPECIAL_SYMBOLS:
            raise VocabularyError(f"vocabulary must start with {SPECIAL_SYMBOLS}")
        if len(set(self.symbols)) != len(self.symbols):
            raise VocabularyError("vocabulary has duplicate symbols")
        if self.max_length < 1:
            raise VocabularyError("vocabulary max_length must be >= 1")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})
        object.__setattr__(self, "_atom_mask", tuple(_starts_molecule(s) for s in self.symbols))

    # -- sizes -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def width(self) -> int:
        """Token columns of an encoded molecule: symbols plus ``<end>``."""
        return self.max_length + 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if len(self.symbols) <= 256 else np.dtype(np.int16)

    def start_mask(self) -> np.ndarray:
        """Symbols allowed as the first decoded symbol: atoms only, so a molecule is never empty."""
        return np.array(self._atom_mask, dtype=bool)

    # -- encoding --------------------------------------------------------------
    def check_selfies(self, selfies: str) -> tuple[list[int] | None, str | None]:
        """Token ids of a SELFIES string, or a reason (too long, unknown symbols); no truncation."""
        symbols = list(sf.split_selfies(selfies))
        if len(symbols) > self.max_length:
            return None, f"too_long_for_model: {len(symbols)} SELFIES symbols > {self.max_length}"
        unknown = sorted({s for s in symbols if s not in self._index or s in SPECIAL_SYMBOLS})
        if unknown:
            return None, f"unknown_symbols: {' '.join(unknown)}"
        if not symbols:
            return None, "empty_selfies"
        return [self._index[s] for s in symbols], None

    def encode_selfies(
        self, selfies_strings: Sequence[str | None]
    ) -> tuple[np.ndarray, list[str | None]]:
        """Token matrix (n, width) and one reason per row (None = ok; failed rows are all PAD)."""
        out = np.zeros((len(selfies_strings), self.width), dtype=self.dtype)
        reasons: list[str | None] = []
        for row, selfies in enumerate(selfies_strings):
            if selfies is None:
                reasons.append("no_selfies")
                continue
            ids, reason = self.check_selfies(selfies)
            reasons.append(reason)
            if ids is not None:
                out[row, : len(ids)] = ids
                out[row, len(ids)] = EOS
        return out, reasons

    def encode_smiles(
        self, smiles: Sequence[str], *, processes: int = 1
    ) -> tuple[np.ndarray, list[str | None], list[str | None]]:
        """Tokens, canonical SMILES and reasons (None = ok) for a table of molecules."""
        encoded = encode_many(smiles, stereo=self.stereo, processes=processes)
        tokens, reasons = self.encode_selfies([e.selfies for e in encoded])
        reasons = [e.reason or r for e, r in zip(encoded, reasons, strict=True)]
        canonical = [e.smiles if r is None else None for e, r in zip(encoded, reasons, strict=True)]
        return tokens, canonical, reasons

    def encode_one(self, smiles: str) -> np.ndarray:
        """Tokens of one user-named molecule; ``VocabularyError`` naming it if it cannot be used."""
        tokens, _, reasons = self.encode_smiles([smiles])
        if reasons[0] is not None:
            raise VocabularyError(f"{smiles}: {reasons[0]}")
        return tokens[0]

    # -- decoding --------------------------------------------------------------
    def tokens_to_selfies(self, tokens: Iterable[int]) -> str:
        """SELFIES string of a token row, stopping at ``<end>`` and skipping padding."""
        parts = []
        for token in tokens:
            token = int(token)
            if token == EOS:
                break
            if token in (PAD, BOS):
                continue
            parts.append(self.symbols[token])
        return "".join(parts)

    # -- persistence -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "max_length": self.max_length, "stereo": self.stereo}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        try:
            return cls(
                symbols=tuple(str(s) for s in data["symbols"]),
                max_length=int(data["max_length"]),
                stereo=bool(data.get("stereo", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VocabularyError(f"invalid vocabulary: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _starts_molecule(symbol: str) -> bool:
    """True for atom symbols (a SELFIES string that starts with one has at least one atom)."""
    if symbol in SPECIAL_SYMBOLS or symbol == ".":
        return False
    inner = symbol.strip("[]")
    return not (inner.startswith(("Branch", "Ring", "=Branch", "#Branch", "=Ring", "#Ring")))


def build_vocabulary(
    selfies_strings: Iterable[str], *, max_length: int | None = None, stereo: bool = False
) -> Vocabulary:
    """Alphabet of the training SELFIES (sorted, after the special symbols).

    ``max_length`` defaults to the longest training molecule; a smaller limit makes
    the longer training molecules rejects (never truncated).
    """
    counts: Counter[str] = Counter()
    longest = 0
    for selfies in selfies_strings:
        symbols = list(sf.split_selfies(selfies))
        counts.update(symbols)
        longest = max(longest, len(symbols))
    if not counts:
        raise VocabularyError("no encodable molecules to build a vocabulary from")
    alphabet = sorted(s for s in counts if s not in SPECIAL_SYMBOLS)
    return Vocabulary(
        symbols=(*SPECIAL_SYMBOLS, *alphabet),
        max_length=int(max_length if max_length is not None else longest),
        stereo=stereo,
    )
