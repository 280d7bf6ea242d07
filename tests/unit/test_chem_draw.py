"""Grid drawing: valid SVG, invalid SMILES get an empty cell with their legend."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from molspace.chem.draw import mols_to_grid_svg

SVG = "{http://www.w3.org/2000/svg}"


def _legends(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter(f"{SVG}text") if el.get("class") == "legend"]


def test_grid_size_and_legends() -> None:
    smiles = ["CCO", "c1ccccc1", "CC(=O)O"]
    svg = mols_to_grid_svg(smiles, ["a", "b", "c"], per_row=2, size=(150, 120))
    root = ET.fromstring(svg)
    assert root.get("width") == "300px" and root.get("height") == "240px"
    assert "".join(_legends(svg)) == "abc"


def test_invalid_smiles_gets_empty_cell_with_legend() -> None:
    svg = mols_to_grid_svg(["CCO", "C1CC(", "c1cccc1", "CCN"], ["ok", "bad<&>", "kek", "ok2"])
    legends = _legends(svg)
    assert "bad<&> (invalid)" in legends  # escaped in the SVG, intact once parsed
    assert "kek (invalid)" in legends
    # RDKit writes its legends one glyph per <text>: the valid cells spell theirs out
    assert "".join(legends).replace("bad<&> (invalid)", "").replace("kek (invalid)", "") == "okok2"


def test_default_legends_are_smiles_and_empty_input() -> None:
    assert "".join(_legends(mols_to_grid_svg(["CCO"]))) == "CCO"
    ET.fromstring(mols_to_grid_svg([]))  # still a valid document


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="legends"):
        mols_to_grid_svg(["CCO", "CCN"], ["only one"])
    with pytest.raises(ValueError, match="per_row"):
        mols_to_grid_svg(["CCO"], per_row=0)
