"""Assemble sections into one self-contained HTML page and write it atomically."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from molspace.errors import InputError
from molspace.report.sections import KeyValues, Section, page

__all__ = ["Report", "build_report", "render_html"]

_CSS = """
:root{--fg:#1d2327;--muted:#5f6b73;--line:#d9dee2;--accent:#2d6a9f;--bg:#fff;--soft:#f5f7f9}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0;padding:0 24px 48px;max-width:1400px;margin-inline:auto}
header{border-bottom:2px solid var(--accent);padding:18px 0 10px;margin-bottom:8px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:var(--muted)}
nav ol{columns:2;color:var(--muted);margin:8px 0 16px}
nav a{color:var(--accent);text-decoration:none}
section{margin:28px 0;border-top:1px solid var(--line);padding-top:8px}
section h2{font-size:18px;margin:6px 0 12px}
.note{color:var(--muted);font-size:12px;margin:4px 0}
.mol-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px}
figure.mol{margin:0;border:1px solid var(--line);border-radius:6px;padding:4px;background:#fff;
text-align:center;overflow:hidden}
figure.mol svg{max-width:100%;height:auto}
figure.mol figcaption{font-size:12px;color:var(--muted);white-space:pre-line;word-break:break-all}
.invalid-mol{height:140px;display:flex;align-items:center;justify-content:center;flex-direction:column;
color:#a33;font-size:12px;word-break:break-all;background:var(--soft)}
.table-wrap{overflow:auto;max-height:640px;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
table.sortable thead th{position:sticky;top:0;background:var(--soft);cursor:pointer;
user-select:none;white-space:nowrap}
table.sortable thead th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable thead th[aria-sort=descending]::after{content:" \\25BC"}
table.kv{width:auto}table.kv th{font-weight:600;background:var(--soft)}
figure.plot{margin:0}img.plot{max-width:100%;height:auto}
figure.plot figcaption{color:var(--muted);font-size:12px}
footer{margin-top:40px;color:var(--muted);font-size:12px}
section h3{font-size:15px;margin:14px 0 8px}
p.lead{font-size:15px;margin:4px 0 12px;max-width:75em}
.headline{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.stat{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px;
background:var(--soft)}
.stat-label{display:block;color:var(--muted);font-size:12px}
.stat-value{display:block;font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.stat-note{display:block;color:var(--muted);font-size:11.5px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:4px 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
.columns .mol-grid{grid-template-columns:repeat(auto-fill,minmax(180px,1fr))}
table.funnel{width:auto}table.funnel td.num{text-align:right;font-variant-numeric:tabular-nums}
table.funnel td.bar-cell{width:260px}
.bar{height:12px;background:var(--accent);border-radius:2px}
ul.files{columns:2;font-size:12.5px}
details summary{cursor:pointer}
@media print{.table-wrap{max-height:none;overflow:visible}section{break-inside:avoid-page}}
"""

# Small, dependency-free sorting; also flags script errors on <body> so a headless
# browser test can see them in the dumped DOM.
_JS = """
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message));
    document.body.setAttribute("data-js-errors", errors.join(" | "));
  });
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? NaN : ""; }
    if (numeric) {
      var raw = cell.getAttribute("data-v");
      return raw === null || raw === "" ? NaN : parseFloat(raw);
    }
    return cell.textContent.toLowerCase();
  }
  function sortTable(table, index, direction) {
    var header = table.tHead.rows[0].cells[index];
    var numeric = header.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (numeric) {
        var xn = isNaN(x), yn = isNaN(y);
        if (xn || yn) { return xn && yn ? 0 : (xn ? 1 : -1); }
        return direction * (x - y);
      }
      return direction * (x < y ? -1 : (x > y ? 1 : 0));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending");
  }
  window.molspaceSortTable = sortTable;
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      function activate() {
        var ascending = header.getAttribute("aria-sort") === "ascending";
        sortTable(table, index, ascending ? -1 : 1);
      }
      header.addEventListener("click", activate);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); activate(); }
      });
    });
  });
  if (window.location.hash === "#selftest") {
    var problems = [];
    Array.prototype.forEach.call(tables, function (table, t) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
        var numeric = header.getAttribute("data-type") === "num";
        [1, -1].forEach(function (direction) {
          sortTable(table, index, direction);
          var values = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
            return cellValue(row, index, numeric);
          });
          for (var i = 1; i < values.length; i++) {
            var a = values[i - 1], b = values[i];
            if (numeric && (isNaN(a) || isNaN(b))) {
              if (isNaN(a) && !isNaN(b)) { problems.push(t + ":" + index); }  // blanks sort last
              continue;
            }
            if (direction * (a < b ? -1 : (a > b ? 1 : 0)) > 0) {
              problems.push(t + ":" + index);
              break;
            }
          }
        });
      });
    });
    var verdict = problems.length ? "fail " + problems.join(",") : "ok";
    document.body.setAttribute("data-selftest", verdict);
  }
  document.body.setAttribute("data-report-ready", "1");
}());
"""

_SLUG = re.compile(r"[^a-z0-9]+")


def _anchor(title: str, index: int) -> str:
    return f"s{index}-{_SLUG.sub('-', title.lower()).strip('-')[:40]}"


def render_html(
    sections: Iterable[Section],
    *,
    title: str = "molspace report",
    subtitle: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """The whole page as a string: header, table of contents, sections, provenance footer."""
    from molspace.versions import versions

    sections = list(sections)
    esc = html.escape
    toc = "".join(
        f"<li><a href='#{_anchor(s.title, i)}'>{esc(s.title)}</a></li>"
        for i, s in enumerate(sections)
    )
    with page() as shared:  # each molecule drawn once, wherever it appears
        body = "".join(
            f"<section id='{_anchor(s.title, i)}' data-kind='{type(s).__name__}'>"
            f"<h2>{esc(s.title)}</h2>{s.render()}</section>"
            for i, s in enumerate(sections)
        )
        sprite = shared.sprite()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    provenance = dict(metadata or {})
    provenance.setdefault("generated", generated)
    provenance["versions"] = versions()
    footer = KeyValues("provenance", provenance).render()
    sub = f"<p>{esc(subtitle)}</p>" if subtitle else ""
    nav = f"<nav><ol>{toc}</ol></nav>" if len(sections) > 1 else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>{sub}<p>generated {esc(generated)}</p></header>"
        f"{sprite}{nav}<main>{body}</main>"
        f"<footer><details><summary>provenance</summary>{footer}</details></footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


def _write_atomic(text: str, path: Path) -> None:
    """Write text so the file is complete or absent; OS errors become one-line InputError."""
    from molspace.io import atomic_path

    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def build_report(
    sections: Iterable[Section],
    out_path: str | Path,
    *,
    title: str = "molspace report",
    subtitle: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Render ``sections`` into one self-contained HTML file at ``out_path`` (atomic write)."""
    path = Path(out_path)
    text = render_html(sections, title=title, subtitle=subtitle, metadata=metadata)
    _write_atomic(text, path)
    return path


class Report:
    """Collects sections from several steps of a run, then writes them once."""

    def __init__(self, title: str = "molspace report", subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []
        self.metadata: dict[str, Any] = {}

    def add(self, *sections: Section) -> Report:
        """Append sections in order; returns self so calls chain."""
        self.sections.extend(sections)
        return self

    def write(self, out_path: str | Path) -> Path:
        """Write the HTML file; see ``build_report``."""
        return build_report(
            self.sections,
            out_path,
            title=self.title,
            subtitle=self.subtitle,
            metadata=self.metadata,
        )
