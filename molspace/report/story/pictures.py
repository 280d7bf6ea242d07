"""The evidence as pictures shared by several kinds: property histograms and the latent map."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from molspace.report.sections import Plot
from molspace.report.story.tables import PROPERTIES, sample_rows

_PROPERTY_LABELS = {"qed": "QED", "sa": "SA score", "mw": "MW", "clogp": "cLogP", "tpsa": "TPSA"}


def property_plot(frames: Mapping[str, pd.DataFrame], with_score: bool = False) -> Plot | None:
    from molspace.report.plots import property_histograms

    filled: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        if "smiles" not in frame:
            continue
        missing = [p for p in PROPERTIES if p not in frame]
        if missing:
            from molspace.analysis.common import properties_frame

            props = properties_frame(frame["smiles"].astype(str).tolist(), missing)
            frame = pd.concat([frame.reset_index(drop=True), props], axis=1)
        filled[name] = frame.rename(columns=_PROPERTY_LABELS)
    if not filled:
        return None
    columns = [_PROPERTY_LABELS[p] for p in PROPERTIES]
    if with_score:
        columns.insert(0, "score")
    return Plot(
        "Properties: " + " vs ".join(filled),
        property_histograms(filled, columns, per_row=5),
        caption="density histograms; " + ", ".join(f"{k}: {len(v)}" for k, v in filled.items()),
    )


def latent_map(
    model: str | None, frames: Mapping[str, pd.DataFrame], seed: int, limit: int = 500
) -> Plot | None:
    """PCA of the latent vectors: library sample, hits and candidates in one picture."""
    from molspace.analysis.common import encode_with_reasons
    from molspace.latent import LatentSpace

    try:
        space = LatentSpace.load(model)
    except Exception:
        return None
    groups: dict[str, np.ndarray] = {}
    for name, frame in frames.items():
        if "smiles" not in frame:
            continue
        smiles = sample_rows(frame, limit, seed)["smiles"].astype(str).tolist()
        z, _ = encode_with_reasons(space, smiles)
        z = z[np.isfinite(z).all(axis=1)]
        if len(z):
            groups[name] = z
    if not groups:
        return None
    from sklearn.decomposition import PCA

    base = groups.get("library sample", np.concatenate(list(groups.values())))
    if len(base) < 3:
        return None
    pca = PCA(n_components=2, random_state=seed).fit(base)
    from molspace.report.plots import groups_map

    coords = {name: pca.transform(z) for name, z in groups.items()}
    explained = pca.explained_variance_ratio_
    return Plot(
        "Latent map (PCA of the encoded molecules)",
        groups_map(coords, axis_labels=(f"PC1 ({explained[0]:.0%})", f"PC2 ({explained[1]:.0%})")),
        caption="PCA fitted on the "
        + ("library sample" if "library sample" in groups else "molecules shown")
        + "; "
        + ", ".join(f"{k}: {len(v)}" for k, v in groups.items()),
    )
