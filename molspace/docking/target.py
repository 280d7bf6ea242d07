"""Target bundles: a prepared receptor and its docking box, checked by hash on load.

A bundle is a directory::

    target.json       manifest: schema, name, box, files with SHA-256, provenance
    receptor.pdbqt    rigid receptor (Meeko, see :mod:`molspace.docking.receptor`)
    ligand.sdf        the reference ligand the box was centred on (when given)

``prepare_target`` writes one from a protein PDB and a ligand SDF (or an explicit
box); ``load_target`` reads one, refusing a bundle whose files do not match their
recorded hashes. Shipped targets (``libraries/targets/<pdb code>``) load by code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molspace.errors import BundleError, InputError

__all__ = [
    "Box",
    "TargetBundle",
    "box_around_ligand",
    "load_target",
    "prepare_target",
    "resolve_target",
    "shipped_targets",
]

SCHEMA = 1
MANIFEST = "target.json"
RECEPTOR = "receptor.pdbqt"
LIGAND = "ligand.sdf"
MAX_BOX_EDGE = 126.0  # Å: Vina's grid limit is far above any pocket; a bigger box is a mistake


@dataclass(frozen=True)
class Box:
    """Axis-aligned search box in Å (centre and edge lengths)."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.center) != 3 or len(self.size) != 3:
            raise InputError("box: centre and size need three numbers each")
        if not all(np.isfinite(self.center)) or not all(0 < s <= MAX_BOX_EDGE for s in self.size):
            raise InputError(f"box: size must be in (0, {MAX_BOX_EDGE:g}] Å, got {self.size}")

    def contains(self, xyz: np.ndarray, tolerance: float = 0.0) -> bool:
        """True when every point lies inside the box (plus ``tolerance`` Å)."""
        half = np.asarray(self.size) / 2 + tolerance
        return bool((np.abs(np.asarray(xyz) - np.asarray(self.center)) <= half).all())


@dataclass(frozen=True)
class TargetBundle:
    """A loaded, verified target: what a docking worker needs (the receptor as text)."""

    name: str
    path: Path
    box: Box
    receptor_pdbqt: str
    receptor_sha256: str
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        """Identity of receptor + box: part of a docking run's resume key."""
        text = json.dumps([self.receptor_sha256, self.box.center, self.box.size])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """What a docking run's summary says of its target: name, key and box."""
        return {
            "target": self.name,
            "target_key": self.key,
            "box": {"center": list(self.box.center), "size": list(self.box.size)},
        }

    def reference_ligand(self) -> Path | None:
        path = self.path / LIGAND
        return path if path.exists() else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_ligand(path: Path) -> Any:
    from rdkit import Chem

    mol = Chem.MolFromMolFile(str(path), removeHs=False)
    if mol is None:
        mol = Chem.MolFromMolFile(str(path), sanitize=False, removeHs=False)
    if mol is None or mol.GetNumConformers() == 0:
        raise InputError(f"{path}: not a readable SD/MOL file with 3D coordinates")
    return mol


def box_around_ligand(ligand_sdf: str | os.PathLike[str], padding: float = 8.0) -> Box:
    """Box centred on the ligand's heavy atoms; each edge = ligand extent + ``padding``.

    ``padding`` is split evenly, so the default 8 Å leaves 4 Å on every side of
    the ligand (smina's ``autobox_add`` convention).
    """
    if padding < 0:
        raise InputError(f"padding: must be >= 0 Å, got {padding}")
    mol = _read_ligand(Path(ligand_sdf))
    xyz = mol.GetConformer().GetPositions()
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    xyz = xyz[heavy] if heavy else xyz
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    center = tuple(round(float(v), 3) for v in (low + high) / 2)
    size = tuple(round(float(v), 3) for v in (high - low) + padding)
    return Box(center, size)  # type: ignore[arg-type]


def prepare_target(
    protein_pdb: str | os.PathLike[str],
    ligand_sdf: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "target",
    *,
    padding: float = 8.0,
    box: Box | None = None,
    name: str | None = None,
) -> TargetBundle:
    """Prepare ``protein_pdb`` (``.pdb`` or ``.pdb.gz``) and write a bundle to ``out_dir``.

    The box comes from ``box`` or, when absent, from ``ligand_sdf`` (centred on
    it, ``padding`` Å larger than it). The files are written first and the
    manifest last, so a half-written bundle fails to load instead of misleading.
    """
    from molspace.docking.receptor import prepare_receptor
    from molspace.docking.settings import require_docking_packages
    from molspace.versions import versions

    require_docking_packages()
    pdb_path = Path(protein_pdb)
    if not pdb_path.is_file():
        raise InputError(f"{pdb_path}: no such file")
    from_ligand = box is None
    if box is None:
        if ligand_sdf is None:
            raise InputError("prepare_target: give a ligand SDF or an explicit box")
        box = box_around_ligand(ligand_sdf, padding)
    pdb_bytes = pdb_path.read_bytes()
    if pdb_path.suffix == ".gz":
        import gzip

        pdb_bytes = gzip.decompress(pdb_bytes)
    prepared = prepare_receptor(
        pdb_bytes.decode("utf-8", "replace"), np.asarray(box.center), np.asarray(box.size)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    receptor_bytes = prepared.pdbqt.encode()
    (out / RECEPTOR).write_bytes(receptor_bytes)
    files[RECEPTOR] = _sha256(receptor_bytes)
    if ligand_sdf is not None:
        ligand_bytes = Path(ligand_sdf).read_bytes()
        (out / LIGAND).write_bytes(ligand_bytes)
        files[LIGAND] = _sha256(ligand_bytes)
    manifest = {
        "schema": SCHEMA,
        "name": name or pdb_path.name.removesuffix(".gz").removesuffix(".pdb"),
        "box": {"center": list(box.center), "size": list(box.size)},
        "padding": padding if from_ligand else None,
        "files": files,
        "source": {
            "protein": pdb_path.name,
            "protein_sha256": _sha256(pdb_bytes),  # of the uncompressed PDB
            "ligand": None if ligand_sdf is None else Path(ligand_sdf).name,
        },
        "preparation": {
            "tool": "meeko",
            "removed_groups": prepared.removed_groups,
            "deleted_residues": prepared.deleted_residues,
            "cropped_residues": prepared.cropped_residues,
        },
        "versions": {k: v for k, v in versions().items() if k in ("molspace", "rdkit", "python")}
        | _tool_versions(),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return load_target(out)


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("meeko", "vina"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def load_target(path: str | os.PathLike[str]) -> TargetBundle:
    """Read and verify a bundle directory; raise ``BundleError`` naming what is wrong."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a target bundle (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if manifest.get("schema") != SCHEMA:
        raise BundleError(f"{manifest_path}: schema {manifest.get('schema')!r}, expected {SCHEMA}")
    files = manifest.get("files") or {}
    if RECEPTOR not in files:
        raise BundleError(f"{manifest_path}: lists no {RECEPTOR}")
    for name, expected in files.items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"{file}: missing from the bundle")
        actual = _sha256(file.read_bytes())
        if actual != expected:
            raise BundleError(f"{file}: sha256 {actual[:12]}… does not match the manifest")
    try:
        box = Box(tuple(manifest["box"]["center"]), tuple(manifest["box"]["size"]))
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{manifest_path}: no valid box ({exc})") from exc
    receptor = (root / RECEPTOR).read_text(encoding="utf-8")
    return TargetBundle(
        name=str(manifest.get("name", root.name)),
        path=root,
        box=box,
        receptor_pdbqt=receptor,
        receptor_sha256=files[RECEPTOR],
        manifest=manifest,
    )


def _targets_roots() -> list[Path]:
    roots = []
    if "MOLSPACE_TARGETS" in os.environ:
        roots.append(Path(os.environ["MOLSPACE_TARGETS"]))
    roots.append(Path.cwd() / "libraries" / "targets")
    roots.append(Path(__file__).resolve().parents[2] / "libraries" / "targets")
    return roots


def shipped_targets() -> dict[str, Path]:
    """Shipped target bundles by PDB code (``libraries/targets/<code>/target.json``)."""
    found: dict[str, Path] = {}
    for root in _targets_roots():
        if root.is_dir():
            for manifest in sorted(root.glob(f"*/{MANIFEST}")):
                found.setdefault(manifest.parent.name.lower(), manifest.parent)
    return found


def resolve_target(target: str | os.PathLike[str] | TargetBundle) -> TargetBundle:
    """A bundle object, a bundle directory, or a shipped target's PDB code."""
    if isinstance(target, TargetBundle):
        return target
    path = Path(target)
    if (path / MANIFEST).exists():
        return load_target(path)
    shipped = shipped_targets()
    code = str(target).lower()
    if code in shipped:
        return load_target(shipped[code])
    raise InputError(
        f"target {str(target)!r}: neither a bundle directory nor a shipped target "
        f"({', '.join(sorted(shipped)) or 'none found'})"
    )
