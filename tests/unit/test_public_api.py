"""The public API at the top of the package: every name resolves, and importing
``molspace`` loads none of the heavy libraries (they load on first use)."""

from __future__ import annotations

import subprocess
import sys

import molspace


def test_every_public_name_resolves() -> None:
    for name in molspace.__all__:
        assert getattr(molspace, name) is not None, name
    assert callable(molspace.screen) and callable(molspace.optimize)
    assert molspace.LatentSpace.__name__ == "LatentSpace"
    assert set(molspace.__all__) <= set(dir(molspace))


def test_stage_packages_resolve_their_public_names() -> None:
    import molspace.optimization
    import molspace.scoring
    import molspace.screening

    for package in (molspace.optimization, molspace.scoring, molspace.screening):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        molspace.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_molspace_is_light() -> None:
    code = (
        "import sys, molspace; heavy = [m for m in ('torch', 'rdkit', 'dask', 'optuna', "
        "'pandas') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_readme_one_liner_samples_the_shipped_model() -> None:
    """``molspace.LatentSpace.load().sample(3, seed=0)``: three valid, seeded molecules."""
    from rdkit import Chem

    first = molspace.LatentSpace.load().sample(3, seed=0)
    assert len(first) == 3
    assert all(Chem.MolFromSmiles(s) is not None for s in first)
    assert molspace.LatentSpace.load().sample(3, seed=0) == first
