"""Molecule grids as SVG for reports and notebooks.

An invalid SMILES never breaks a grid: its cell stays empty and keeps its legend
(with ``(invalid)`` appended), so the figure still lines up with its table.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from molspace.chem.parse import parse_smiles
from molspace.chem.rdlog import capture_rdkit_log

__all__ = ["mols_to_grid_svg"]


def mols_to_grid_svg(
    smiles: Sequence[str],
    legends: Sequence[str] | None = None,
    per_row: int = 5,
    size: tuple[int, int] = (200, 200),
) -> str:
    """Draw ``smiles`` in a grid of ``per_row`` columns; returns the SVG document text.

    ``legends`` default to the SMILES themselves. An empty input gives an empty
    (one cell wide) SVG rather than an error.
    """
    if legends is not None and len(legends) != len(smiles):
        raise ValueError(f"got {len(legends)} legends for {len(smiles)} molecules")
    if per_row < 1:
        raise ValueError(f"per_row must be >= 1, got {per_row}")
    labels = [str(x) for x in (legends if legends is not None else smiles)]
    mols: list[Chem.Mol] = []
    for i, text in enumerate(smiles):
        result = parse_smiles(text)
        if result.mol is None:
            mols.append(Chem.Mol())
            labels[i] = f"{labels[i]} (invalid)"
        else:
            mols.append(result.mol)
    width, height = size
    columns = max(1, min(per_row, len(mols)))
    rows = max(1, -(-len(mols) // per_row))
    # noFreetype: legends stay <text> elements (searchable, smaller) instead of glyph paths
    drawer = rdMolDraw2D.MolDraw2DSVG(width * columns, height * rows, width, height, True)
    with capture_rdkit_log():
        if mols:
            drawer.DrawMolecules(mols, legends=labels)
        drawer.FinishDrawing()
    svg = drawer.GetDrawingText()
    # RDKit draws nothing at all for an empty molecule, legend included: add those legends
    notes = [
        _legend(labels[i], (i % per_row + 0.5) * width, (i // per_row + 0.93) * height, height)
        for i, mol in enumerate(mols)
        if mol.GetNumAtoms() == 0
    ]
    if notes:
        closing = svg.rfind("</svg>")
        svg = svg[:closing] + "".join(notes) + svg[closing:]
    return svg


def _legend(text: str, x: float, y: float, height: int) -> str:
    font = max(8, round(height * 0.07))
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' class='legend' text-anchor='middle' "
        f"style='font-size:{font}px;font-family:sans-serif;fill:#000000'>"
        f"{escape(text, {chr(39): '&apos;'})}</text>\n"
    )
