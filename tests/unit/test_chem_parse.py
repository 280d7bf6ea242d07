"""Safe parsing: every rejection reason, RDKit's log captured, never raising on junk."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molspace.chem import (
    REASONS,
    ParseResult,
    canonical_smiles,
    inchikey,
    mol_from_smiles,
    parse_smiles,
    reason_category,
)
from molspace.chem.rdlog import capture_rdkit_log
from molspace.errors import InvalidMoleculeError, MolspaceError


def _restore_log_status(status: str) -> None:
    from rdkit import rdBase

    for line in status.splitlines():
        name, state = line.split(":")
        (rdBase.EnableLog if state == "enabled" else rdBase.DisableLog)(name)


@pytest.fixture(autouse=True)
def _rdkit_logs_on() -> Iterator[None]:
    """Other areas' tests may have silenced RDKit process-wide; these tests read its log."""
    from rdkit import rdBase

    before = rdBase.LogStatus()
    rdBase.EnableLog("rdApp.error")
    rdBase.EnableLog("rdApp.warning")
    yield
    _restore_log_status(before)


def test_valid_smiles_gives_a_sanitized_molecule() -> None:
    result = parse_smiles("  c1ccccc1O \n")
    assert result.ok and result.reason is None
    assert canonical_smiles(result.mol) == "Oc1ccccc1"
    assert result.mol.GetNumAtoms() == 7


def test_same_molecule_as_rdkit_for_hydrogens_and_stereo() -> None:
    for smiles in ("[H]C([H])([H])[H]", "C[C@@H](N)C(=O)O", "F/C=C/F", "[2H]C", "C[N+](C)(C)C"):
        ours = parse_smiles(smiles).mol
        assert Chem.MolToSmiles(ours) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("", "empty"),
        ("   \t", "empty"),
        (None, "empty"),
        (math.nan, "empty"),
        ("C" * 1001, "too_long"),
        ("C1CC(", "parse_error: SMILES Parse Error: syntax error while parsing: C1CC("),
        ("C(C)(C)(C)(C)C", "sanitize_error: Explicit valence for atom # 0 C, 5, is greater"),
        ("CC(C)(C)(C)(C)", "sanitize_error: Explicit valence for atom # 1 C, 5, is greater"),
        ("c1cccc1", "sanitize_error: Can't kekulize mol."),
        ("C" * 151, "too_many_atoms"),
        ("[H][H]", "no_atoms"),
    ],
)
def test_rejection_reasons(smiles: str, reason: str) -> None:
    result = parse_smiles(smiles)
    assert result.mol is None and not result.ok
    assert result.reason is not None
    assert result.reason.startswith(reason), result.reason
    assert reason_category(result.reason) in REASONS


def test_molecules_without_heavy_atoms_are_no_atoms() -> None:
    for smiles in ("[H][H]", "[H+]", "*", "[2H][2H]"):
        assert parse_smiles(smiles).reason == "no_atoms", smiles
    assert parse_smiles("C*").ok


def test_caps_are_configurable_and_exact() -> None:
    assert parse_smiles("CCCC", max_length=3).reason == "too_long"
    assert parse_smiles("CCC", max_length=3).ok
    # a long string below the heavy-atom cap still parses (pre-parse path)
    long_but_small = "[CH3][CH2][CH2][CH2][CH2][CH2][CH3]"
    assert parse_smiles(long_but_small, max_heavy_atoms=10).ok
    assert parse_smiles(long_but_small, max_heavy_atoms=6).reason == "too_many_atoms"
    # explicit hydrogens do not count as heavy atoms
    assert parse_smiles("[H]C([H])([H])C([H])([H])[H]", max_heavy_atoms=2).ok
    # syntax errors in long strings are still parse errors, quoting RDKit
    bad_long = "C" * 200 + "("
    assert parse_smiles(bad_long).reason.startswith("parse_error: SMILES Parse Error")


def test_reason_is_one_bounded_line() -> None:
    result = parse_smiles("C" * 900 + "(")
    assert "\n" not in result.reason
    assert len(result.reason) < 400
    assert len(result.log) >= 1  # the full RDKit log is kept on the result


def test_trailing_text_is_rejected_not_silently_dropped() -> None:
    result = parse_smiles("CC O")
    assert result.reason == "parse_error: unexpected text after the SMILES: 'O'"
    # a CXSMILES extension block after a space is allowed
    assert parse_smiles("C[C@H](F)Cl |&1:1|").ok


def test_non_string_input_is_a_reason_not_a_crash() -> None:
    assert reason_category(parse_smiles(42).reason) == "parse_error"  # type: ignore[arg-type]


def test_stderr_stays_clean(capfd: pytest.CaptureFixture[str]) -> None:
    junk = ["C1CC(", "C(C)(C)(C)(C)C", "c1cccc1", "[H]", "Xx", "C" * 300 + ")", "[Cu+9]("]
    for smiles in junk:
        parse_smiles(smiles)
    # RDKit warns outside any capture too: routed to logging, never to stderr
    Chem.RemoveHs(Chem.MolFromSmiles("C.[H]", sanitize=False))
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""


def test_reasons_survive_rdkit_logs_disabled_elsewhere(capfd: pytest.CaptureFixture[str]) -> None:
    """Other code calls RDLogger.DisableLog("rdApp.*"); reasons must still quote RDKit."""
    from rdkit import RDLogger, rdBase

    before = rdBase.LogStatus()
    RDLogger.DisableLog("rdApp.*")
    try:
        assert parse_smiles("C1CC(").reason == (
            "parse_error: SMILES Parse Error: syntax error while parsing: C1CC("
        )
        assert parse_smiles("C(C)(C)(C)(C)C").reason == (
            "sanitize_error: Explicit valence for atom # 0 C, 5, is greater than permitted"
        )
        assert "rdApp.error:disabled" in rdBase.LogStatus()  # their setting is restored
    finally:
        _restore_log_status(before)
    assert capfd.readouterr().err == ""


def test_log_of_a_valid_molecule_keeps_warnings() -> None:
    result = parse_smiles("C.[H]")
    assert result.ok
    assert any("not removing hydrogen atom" in m for m in result.log)


def test_capture_is_per_thread() -> None:
    """Concurrent parses in threads each get their own RDKit messages."""
    errors: list[str] = []

    def work(index: int) -> None:
        bad = "C" * (index + 1) + "1CC("
        for _ in range(200):
            result = parse_smiles(bad)
            if bad not in (result.reason or ""):
                errors.append(f"{bad}: {result.reason}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_nested_capture_receives_inner_messages() -> None:
    with capture_rdkit_log() as outer:
        with capture_rdkit_log() as inner:
            Chem.MolFromSmiles("C1CC(")
        Chem.MolFromSmiles("c1cccc1")
    assert inner.first("SMILES Parse Error") is not None
    assert all("kekulize" not in m for m in inner.messages)
    assert outer.first("kekulize") is not None


def test_mol_from_smiles_raises_one_line_error() -> None:
    assert mol_from_smiles("CCO").GetNumAtoms() == 3
    with pytest.raises(InvalidMoleculeError, match=r"^C1CC\(: parse_error: SMILES Parse Error"):
        mol_from_smiles("C1CC(")
    assert issubclass(InvalidMoleculeError, MolspaceError)


def test_canonical_smiles_and_inchikey() -> None:
    a = parse_smiles("OCC").mol
    b = parse_smiles("C(O)C").mol
    assert canonical_smiles(a) == canonical_smiles(b) == "CCO"
    assert inchikey(a) == inchikey(b) == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
    assert inchikey(Chem.Mol()) == ""


def test_parse_result_is_frozen() -> None:
    result = ParseResult(None, "empty")
    with pytest.raises(AttributeError):
        result.reason = "x"  # type: ignore[misc]


_SMILES_CHARS = "CNOc1()=#[]@+-23456789/\\%.H"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.text(alphabet=_SMILES_CHARS, max_size=60)))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_smiles(text)
    if result.mol is None:
        assert result.reason and reason_category(result.reason) in REASONS
    else:
        assert result.reason is None
        assert result.mol.GetNumAtoms() > 0
        Chem.MolToSmiles(result.mol)  # a returned molecule is usable
