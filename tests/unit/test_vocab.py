"""SELFIES vocabulary: strict encoding, rejection reasons, no truncation, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import selfies as sf
from rdkit import Chem

from molspace.errors import VocabularyError
from molspace.model.vocabulary import (
    BOS,
    EOS,
    PAD,
    SPECIAL_SYMBOLS,
    Vocabulary,
    build_vocabulary,
    smiles_to_selfies,
)

TRAIN = [
    "CCO",
    "c1ccccc1C(=O)O",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "O=C(Nc1ccc(Cl)cc1)C1CC1",
    "FC(F)(F)c1ccc(Br)cc1",
]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    encoded = [smiles_to_selfies(s) for s in TRAIN]
    assert all(e.ok for e in encoded)
    return build_vocabulary([e.selfies for e in encoded])


def test_special_symbols_come_first(vocab: Vocabulary) -> None:
    assert vocab.symbols[:3] == SPECIAL_SYMBOLS
    assert (PAD, BOS, EOS) == (0, 1, 2)
    assert vocab.max_length == max(
        len(list(sf.split_selfies(smiles_to_selfies(s).selfies))) for s in TRAIN
    )


def test_round_trip_is_the_canonical_molecule(vocab: Vocabulary) -> None:
    tokens, canonical, reasons = vocab.encode_smiles(TRAIN)
    assert reasons == [None] * len(TRAIN)
    for row, smiles in zip(tokens, canonical, strict=True):
        decoded = sf.decoder(vocab.tokens_to_selfies(row))
        assert Chem.CanonSmiles(decoded) == smiles
        n = int(np.argmax(row == EOS))
        assert np.all(row[n + 1 :] == PAD)


def test_stereo_is_removed_by_default(vocab: Vocabulary) -> None:
    _, canonical, reasons = vocab.encode_smiles(["CN1CCC[C@H]1c1cccnc1"])
    assert reasons == [None]
    assert "@" not in canonical[0]


def test_unknown_symbols_and_too_long_are_rejected_not_truncated(vocab: Vocabulary) -> None:
    long_chain = "C" * (vocab.max_length + 1)
    _, canonical, reasons = vocab.encode_smiles(
        ["CCS(=O)(=O)N", long_chain, "[13CH4]", "CC.O", "not smiles"]
    )
    assert reasons[0].startswith("unknown_symbols:") and "[S]" in reasons[0]
    assert reasons[1].startswith("too_long_for_model:")
    assert reasons[2].startswith("unknown_symbols:") and "13C" in reasons[2]
    assert reasons[3].startswith("unknown_symbols:")
    assert reasons[4].startswith("parse_error")
    assert canonical == [None] * 5


def test_encode_one_raises_naming_the_molecule(vocab: Vocabulary) -> None:
    with pytest.raises(VocabularyError, match=r"^CCS\(=O\)\(=O\)N: unknown_symbols"):
        vocab.encode_one("CCS(=O)(=O)N")


def test_strict_encoder_reason_is_kept() -> None:
    # pentavalent nitrogen written without charges: strict SELFIES refuses it
    result = smiles_to_selfies("CN(=O)=O")
    if result.ok:  # RDKit may normalize it into the charge-separated form first
        assert "+" in result.selfies
    else:
        assert result.reason


def test_start_mask_allows_only_atoms(vocab: Vocabulary) -> None:
    mask = vocab.start_mask()
    allowed = {vocab.symbols[i] for i in np.flatnonzero(mask)}
    assert allowed and all(
        not s.startswith(("[Ring", "[Branch", "[=Branch", "[#Branch")) for s in allowed
    )
    assert not mask[PAD] and not mask[BOS] and not mask[EOS]


def test_json_round_trip(vocab: Vocabulary) -> None:
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(VocabularyError):
        Vocabulary.from_dict({"symbols": ["[C]"], "max_length": 3})
