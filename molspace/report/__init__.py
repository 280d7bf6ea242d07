"""Self-contained HTML reports: every step of a run adds sections, one file comes out.

The file needs no network at view time: CSS and the small sorting script are
inline, molecules are inline RDKit SVG and plots inline base64 PNG, so a report
can be mailed, archived next to the run, or opened on an air-gapped cluster node.

Stage 11: may import every stage below it (``chem`` … ``optimization``) to read their
outputs; never ``workflow`` or ``cli``.
"""

from __future__ import annotations

from molspace.report.html import Report, build_report, render_html
from molspace.report.sections import KeyValues, MoleculeGrid, Plot, Section, Table, Text

__all__ = [
    "KeyValues",
    "MoleculeGrid",
    "Plot",
    "Report",
    "Section",
    "Table",
    "Text",
    "build_report",
    "render_html",
]
