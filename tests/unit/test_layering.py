"""The package tree is the pipeline: a stage imports only the stages below it.

Every ``import``/``from ... import`` of molspace in every module counts, also the ones
inside functions (a lazy import is still a dependency). The ranks follow the order of
the pipeline (README, "Layout"); packages on one rank may not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "molspace"

BASE = {"_lazy", "errors", "versions", "config", "interrupt", "cluster"}
RANKS = {
    "chem": 1,
    "io": 2,
    "similarity": 3,
    "docking": 4,
    "scoring": 5,
    "oracles": 5,
    "metrics": 5,
    "screening": 6,
    "model": 7,
    "latent": 8,
    "analysis": 9,
    "optimization": 10,
    "report": 11,
    "workflow": 12,
    "cli": 13,
    "__main__": 14,
}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "molspace"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, imported module) of every molspace import in ``path``, relative ones resolved."""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return [(line, name) for line, name in found if name.split(".")[0] == "molspace"]


def _rank(stage: str) -> int:
    if stage in BASE:
        return 0
    return RANKS.get(stage, 99)


def _violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        src = _stage(_module_name(path, root))
        if src == "molspace":  # the lazy public API on top imports everything
            continue
        for line, target in _imports(path, root):
            dst = _stage(target)
            if dst == src:
                continue
            if dst == "molspace":
                bad.append(f"{path}:{line}: imports the top-level package")
            elif src in BASE and dst in BASE:
                continue
            elif _rank(dst) >= _rank(src):
                bad.append(f"{path}:{line}: {src} (rank {_rank(src)}) imports {target}")
    return bad


def test_every_package_has_a_rank() -> None:
    stages = {_stage(_module_name(p)) for p in ROOT.rglob("*.py")}
    unknown = stages - BASE - set(RANKS) - {"molspace", "data"}
    assert not unknown, f"give these a rank in RANKS: {sorted(unknown)}"


def test_lower_stages_never_import_higher_ones() -> None:
    assert _violations() == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The test itself can fail: a model module that imports the latent stage."""
    fake = tmp_path / "molspace"
    (fake / "model").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "model" / "__init__.py").write_text("")
    (fake / "model" / "export.py").write_text(
        "def f():\n    from molspace.latent import LatentSpace\n    from . import vae\n"
    )
    found = _violations(fake)
    assert len(found) == 1 and "imports molspace.latent" in found[0]


def test_stage_packages_say_their_job() -> None:
    """Each stage package opens with a docstring saying its job and what it may import."""
    for package in [p for p in ROOT.iterdir() if (p / "__init__.py").is_file()]:
        if package.name == "data":
            continue
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and "import" in doc, f"{package.name}/__init__.py: no docstring on layering"
