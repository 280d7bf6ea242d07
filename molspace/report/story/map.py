"""A chemical-space map's part of the story: clusters, representatives, coloured maps."""

from __future__ import annotations

from pathlib import Path

from molspace.report.sections import FunnelRow, Plot, Stat
from molspace.report.story.cards import cards
from molspace.report.story.page import Acc
from molspace.report.story.parts import Part
from molspace.report.story.tables import PROPERTIES, read_table


def add_map(part: Part, acc: Acc, report_dir: Path, max_molecules: int) -> None:
    """Add a map's projection, counts, cluster representatives and coloured maps."""
    from molspace.report.plots import cluster_map, scatter_map

    s = part.summary
    settings = s.get("settings", {})
    acc.question.append(("library", str(settings.get("library", ""))))
    projection = s.get("projection", {})
    method = projection.get("method") if isinstance(projection, dict) else None
    acc.question.append(("projection", str(method or settings.get("projection", ""))))
    acc.funnel.extend(
        [
            FunnelRow("map_read", "read", s.get("n_read"), part.name, part.seconds),
            FunnelRow("mapped", "encoded and mapped", s.get("n_mapped"), part.name),
        ]
    )
    acc.stats.append(Stat("clusters", "clusters", s.get("n_clusters")))
    acc.stats.append(Stat("mapped", "molecules mapped", s.get("n_mapped")))
    frame = read_table(part.folder / "map.parquet")
    if frame is None or frame.empty:
        return
    acc.used.add(part.folder / "map.parquet")
    coords = frame[["x", "y"]].to_numpy(dtype=float)
    reps = None  # a map without clusters has no representatives
    if "cluster" in frame:
        figure, reps = cluster_map(frame, coords)
        acc.evidence.append(Plot(f"Map coloured by cluster ({part.name})", figure))
    if reps is not None and len(reps):
        rows = frame.iloc[reps].sort_values("cluster").head(max_molecules)
        acc.answer.append(
            cards(
                f"cluster representatives ({part.name})",
                rows,
                [f"cluster {c}" for c in rows["cluster"]],
            )
        )
    for column in [c for c in PROPERTIES if c in frame][:2]:
        acc.evidence.append(
            Plot(
                f"Map coloured by {column} ({part.name})",
                scatter_map(coords, frame[column].to_numpy(), label=column),
            )
        )
