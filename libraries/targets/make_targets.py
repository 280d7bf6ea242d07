"""Re-create the shipped docking targets from the posebusters wheel, or verify them.

    python libraries/targets/make_targets.py            # pip download, extract, verify, prepare
    python libraries/targets/make_targets.py --check    # verify sources and bundles present
    python libraries/targets/make_targets.py --wheel-dir /tmp/wh   # reuse a downloaded wheel

Each target directory holds the upstream protein (``protein.pdb.gz``, gzip of the
wheel's ``*_protein_one_lig_removed.pdb``, byte-identical once decompressed), the
crystal ligand (``ligand.sdf``, byte-identical) and the prepared bundle
(``receptor.pdbqt`` + ``target.json``) that ``molspace.docking.prepare_target``
writes with the default padding. Only data files are read from the wheel; nothing
from it is imported. The upstream bytes are checked against the SHA-256 below
before anything is written. The receptor PDBQT depends on the Meeko version, so
its hash lives in each ``target.json`` (checked on every load), not here.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEEL = "posebusters-0.6.5-py3-none-any.whl"
WHEEL_SHA256 = "3e0cbca6481079d5ab7d1989a8a8f184dbba27366613c4b515658ea52fb95ea3"
PADDING = 8.0

# code: (protein sha256, ligand sha256) of the wheel's members
TARGETS = {
    "1ia1": (
        "9c0f2d9afc49cd93aefad3a9a8365172f5378b72cae227c8db643a8c5570e487",
        "1f956bad53c222ab67c0b1b618d1388f2fbae3c246923f29233da6cad7780cb4",
    ),
    "1of6": (
        "719dabf584c6fbc94a92a126ea8a9eacaa72ac4f2276c338246f96b3f9d88536",
        "0b767345fd5a0e6b1f4efcc677309f58c27afc475d4e5cea403e79d96907f99c",
    ),
    "1s3v": (
        "cefe1b69ac9716e7807ba51304130e4d5483855de9378b3d7165613df84bffa4",
        "5778a2503ef761960d2e366809bda4419cdece2e29a2b34def44a06bb20cc4a0",
    ),
    "1uou": (
        "91e9a7fb292444ac4fa0076c4fa981d2151952b60101f334e352db494a1cf4fc",
        "d2e305d4309c4474524805a08fc17568a8d8ca5815fbf697e1d95d15ed717871",
    ),
}
LICENSE_MEMBER = "posebusters-0.6.5.dist-info/licenses/LICENSE"
LICENSE_SHA256 = "90bc701d0de82dc12c78cfde9f7d4c5d66e2dbc21604d95b67c5ad4e368a4149"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def members(code: str) -> tuple[str, str]:
    base = f"posebusters/datasets/pdb/{code}/{code}"
    return f"{base}_protein_one_lig_removed.pdb", f"{base}_ligand.sdf"


def check(root: Path) -> int:
    """Verify upstream files and bundles present; return the number of problems."""
    from molspace.docking.target import load_target
    from molspace.errors import MolspaceError

    bad = 0
    for code, (protein_sha, ligand_sha) in TARGETS.items():
        folder = root / code
        if not folder.exists():
            print(f"absent   {code} (skipped)")
            continue
        protein = gzip.decompress((folder / "protein.pdb.gz").read_bytes())
        ligand = (folder / "ligand.sdf").read_bytes()
        for name, data, expected in (
            ("protein.pdb.gz", protein, protein_sha),
            ("ligand.sdf", ligand, ligand_sha),
        ):
            if sha256(data) != expected:
                bad += 1
                print(f"MISMATCH {code}/{name}: sha256 {sha256(data)}, expected {expected}")
        try:
            target = load_target(folder)
            print(f"ok       {code} (box {target.box.size} Å at {target.box.center})")
        except MolspaceError as exc:
            bad += 1
            print(f"BAD      {code}: {exc}")
    license_path = root / "LICENSE"
    if license_path.exists() and sha256(license_path.read_bytes()) != LICENSE_SHA256:
        bad += 1
        print("MISMATCH LICENSE")
    return bad


def download(wheel_dir: Path) -> Path:
    wheel = wheel_dir / WHEEL
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*cmd, "-d", str(wheel_dir), "posebusters==0.6.5"], check=True)
    if sha256(wheel.read_bytes()) != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 differs from {WHEEL_SHA256}")
    return wheel


def build(root: Path, wheel_dir: Path | None) -> int:
    """Extract, verify and prepare every target under ``root``."""
    from molspace.docking.target import prepare_target

    with tempfile.TemporaryDirectory(prefix="molspace-wheels-") as tmp:
        wheel = download(wheel_dir or Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            license_bytes = archive.read(LICENSE_MEMBER)
            if sha256(license_bytes) != LICENSE_SHA256:
                raise SystemExit("posebusters LICENSE: sha256 mismatch")
            (root / "LICENSE").write_bytes(license_bytes)
            for code, expected in TARGETS.items():
                data = [archive.read(m) for m in members(code)]
                if [sha256(d) for d in data] != list(expected):
                    raise SystemExit(f"{code}: wheel members differ from the recorded sha256")
                folder = root / code
                folder.mkdir(parents=True, exist_ok=True)
                protein = folder / "protein.pdb.gz"
                tmp_path = folder / ".tmp-protein.pdb.gz"
                tmp_path.write_bytes(gzip.compress(data[0], mtime=0))
                os.replace(tmp_path, protein)
                ligand_tmp = Path(tmp) / "ligand.sdf"
                ligand_tmp.write_bytes(data[1])
                target = prepare_target(protein, ligand_tmp, folder, padding=PADDING, name=code)
                print(f"wrote    {code}: box {target.box.size} Å at {target.box.center}")
    return check(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify what is present")
    parser.add_argument("--wheel-dir", type=Path, help="use/keep the wheel in this directory")
    parser.add_argument("--root", type=Path, default=HERE, help="targets directory")
    args = parser.parse_args(argv)
    bad = check(args.root) if args.check else build(args.root, args.wheel_dir)
    if bad:
        print(f"{bad} problem(s)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
