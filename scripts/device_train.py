"""Train the SELFIES VAE on a borrowed GPU machine: pack here, train there, collect here.

    .venv/bin/python scripts/device_train.py pack                  # here: writes .device/
    python3 scripts/device_train.py train --minutes 7              # there (carry .device)
    .venv/bin/python scripts/device_train.py collect FILES_DIR     # here: rebuilds runs/gpu_vae

The GPU machine has torch, numpy, pandas and safetensors but no RDKit, selfies or
pydantic, and no network. ``pack`` therefore brings the MOSES token cache (xz, so the
working tree plus ``.device`` stays under the 64 MiB a device call carries) and the
wheels it lacks. ``train`` installs the wheels into ``/tmp/site``, unpacks the cache,
trains in a subprocess under a wall-clock deadline and always copies what it has
into ``$OUT`` within the limits of what comes back (8 files, 16 MiB each, 64 MiB in
all): the best bundle, the resumable checkpoint split into parts, and one archive of
the logs. ``collect`` turns those files back into a run directory that
``scripts/export_bundle.py`` and ``python -m molspace.model.train RUN --resume`` read.

The training run is cut into two phases so its cosine learning-rate schedule ends
where the time does: a short calibration (``--calibrate-seconds`` of optimizer steps)
measures the step rate, then the run resumes with ``max_steps`` set to what fits
into ``--minutes``. ``max_hours`` stays as the safety stop. See training/GPU.md.

Only the standard library is imported at module level (the script starts before the
wheels are installed); molspace is imported lazily where it is needed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import lzma
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCRIPT = str(Path(__file__).resolve())
REPO = Path(SCRIPT).parents[1]
DEFAULT_CONFIG = "workflows/configs/train_moses_gpu.toml"
DEFAULT_DEVICE_DIR = ".device"
DEFAULT_RUN = "runs/gpu_vae"
DEFAULT_SITE = "/tmp/site"
MANIFEST = "manifest.json"

MIB = 2**20
#: what a device call brings back from $OUT (training/GPU.md; the device tool's limits)
OUT_MAX_FILES = 8
OUT_MAX_FILE_BYTES = 16 * MIB
OUT_MAX_TOTAL_BYTES = 64 * MIB
OUT_MAX_PARTS = 3  # path components: $OUT/a/b/file
OUT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
#: what a device call carries: working tree (tracked + untracked-not-ignored) + carry paths
CARRY_MAX_BYTES = 64 * MIB
#: tracked files training does not read, moved aside (into ASIDE_DIR, git-ignored, so it
#: does not travel) when the tree would not fit: the 26.8 MB of MOSES reference statistics
#: the benchmarks read. ``restore`` (and ``collect``) put them back.
SET_ASIDE = ("libraries/moses/stats/test.npz", "libraries/moses/stats/test_scaffolds.npz")
ASIDE_DIR = ".device-aside"
#: checkpoint parts: under the 16 MiB per-file limit with room to spare
PART_BYTES = 15 * MIB

#: wheels the GPU machine lacks (pinned at pack time to this venv's versions). pydantic 2.14
#: needs typing-extensions >= 4.16 (Requires-Dist), newer than torch guarantees, so it is
#: shipped too; /tmp/site comes first on PYTHONPATH, and newer typing-extensions is
#: backwards compatible for torch.
WHEEL_PACKAGES = (
    "selfies",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "typing-extensions",
)
PIP_PLATFORM = [
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
]

#: files of a run directory that travel back in one archive (small, text)
RUN_TEXT_FILES = (
    "config.json",
    "metrics.csv",
    "metrics.json",
    "steps.csv",
    "rejects.csv",
    "train.log",
)
RUN_ARCHIVE = "run-files.tar.gz"
OUT_INFO = "device.json"  # inside the archive: parts, hashes, what was dropped
CHECKPOINT_TENSORS = "state.safetensors"
CHECKPOINT_STATE = "state.json"
EXIT_INTERRUPTED = 75  # molspace.interrupt.EXIT_INTERRUPTED


STARTED = time.monotonic()
LOG_FILES: list[Path] = []  # train.log of the run, once train knows it


def say(message: str) -> None:
    """A progress line with the seconds since start (the overheads of a device call)."""
    line = f"[device_train {time.monotonic() - STARTED:6.1f}s] {message}"
    print(line, flush=True)
    for path in LOG_FILES:
        with path.open("a") as handle:
            handle.write(line + "\n")


# -- pure helpers --------------------------------------------------------------------------


def part_names(name: str, size: int, part_bytes: int = PART_BYTES) -> list[str]:
    """Names of the parts a file of ``size`` bytes is split into (planning before writing,
    so the $OUT limits can be checked without touching the disk)."""
    count = max(1, math.ceil(size / part_bytes))
    return [f"{name}.part{i:02d}" for i in range(count)]


def split_file(src: Path, dest_dir: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """Split ``src`` into ``dest_dir/<name>.partNN`` of at most ``part_bytes`` each, because
    a device call returns no file over 16 MiB and a checkpoint is larger."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    names = part_names(src.name, src.stat().st_size, part_bytes)
    paths = []
    with src.open("rb") as handle:
        for name in names:
            path = dest_dir / name
            path.write_bytes(handle.read(part_bytes))
            paths.append(path)
    return paths


def join_parts(parts: Sequence[Path], dest: Path) -> int:
    """Concatenate ``parts`` in order into ``dest`` (written atomically); returns its size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.joining")
    size = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(MIB):
                    out.write(block)
                    size += len(block)
    os.replace(tmp, dest)
    return size


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks (checkpoints and token caches are large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def check_out_limits(files: Mapping[str, int]) -> list[str]:
    """Problems of a set of $OUT files (relative path -> bytes) against what a device call
    returns: at most 8 files, 16 MiB each, 64 MiB together, no deeper than ``a/b/file``,
    names of letters, digits, '.', '_' and '-'. Empty when all of it comes back."""
    problems = []
    if len(files) > OUT_MAX_FILES:
        problems.append(f"{len(files)} files (at most {OUT_MAX_FILES} come back)")
    total = 0
    for rel, size in sorted(files.items()):
        total += size
        parts = rel.split("/")
        if len(parts) > OUT_MAX_PARTS:
            problems.append(f"{rel}: deeper than $OUT/a/b/file")
        if not all(OUT_NAME.match(p) and p not in (".", "..") for p in parts):
            problems.append(f"{rel}: name outside [A-Za-z0-9._-]")
        if size > OUT_MAX_FILE_BYTES:
            problems.append(f"{rel}: {size / MIB:.1f} MiB (at most 16 MiB per file)")
    if total > OUT_MAX_TOTAL_BYTES:
        problems.append(f"{total / MIB:.1f} MiB in all (at most 64 MiB)")
    return problems


def _copy_hashing(source: Any, target: Any) -> tuple[int, str]:
    """Copy one binary stream into another in blocks; returns the bytes copied and their
    SHA-256 (packing and unpacking both verify the uncompressed tokens this way)."""
    digest = hashlib.sha256()
    size = 0
    while block := source.read(4 * MIB):
        digest.update(block)
        size += len(block)
        target.write(block)
    return size, digest.hexdigest()


def pack_cache(src: Path, dest: Path, preset: int = 6) -> dict[str, Any]:
    """Copy a token cache folder (tokens.npy, meta.json, rejects.csv) to ``dest`` with
    tokens.npy xz-compressed (88 MB -> ~8.5 MB for MOSES: the carry limit is 64 MiB).
    Returns the size and SHA-256 of tokens.npy so the unpacked copy can be verified."""
    tokens = src / "tokens.npy"
    for name in ("tokens.npy", "meta.json"):
        if not (src / name).is_file():
            raise FileNotFoundError(f"{src / name}: not a token cache (missing {name})")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".tokens.npy.xz.tmp"
    with tokens.open("rb") as handle, lzma.open(tmp, "wb", preset=preset) as out:
        size, sha256 = _copy_hashing(handle, out)
    os.replace(tmp, dest / "tokens.npy.xz")
    for name in ("meta.json", "rejects.csv"):
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
    return {
        "tokens_bytes": size,
        "tokens_sha256": sha256,
        "xz_bytes": (dest / "tokens.npy.xz").stat().st_size,
    }


def unpack_cache(src: Path, dest: Path, expect: Mapping[str, Any] | None = None) -> Path:
    """Decompress a packed cache into ``dest`` (a ``<cache_dir>/<key>`` folder) so
    ``load_or_build_dataset`` finds it instead of re-encoding (which needs RDKit).
    meta.json, the marker the loader looks for, is written last; with ``expect``
    (from pack_cache) the tokens' size and SHA-256 are checked first."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".tokens.npy.unpack"
    with lzma.open(src / "tokens.npy.xz", "rb") as handle, tmp.open("wb") as out:
        size, sha256 = _copy_hashing(handle, out)
    if expect is not None and (
        size != expect.get("tokens_bytes") or sha256 != expect.get("tokens_sha256")
    ):
        tmp.unlink()
        raise ValueError(f"{src}: unpacked tokens.npy does not match the packed one")
    os.replace(tmp, dest / "tokens.npy")
    if (src / "rejects.csv").is_file():
        shutil.copyfile(src / "rejects.csv", dest / "rejects.csv")
    shutil.copyfile(src / "meta.json", dest / ".meta.json.tmp")
    os.replace(dest / ".meta.json.tmp", dest / "meta.json")
    return dest


def tree_bytes(repo: Path, exclude: str = DEFAULT_DEVICE_DIR) -> tuple[int, int]:
    """Bytes of what a device call copies of the working tree: tracked files and untracked
    files git does not ignore (``exclude`` is carried separately and not counted here)."""

    def listed(*args: str) -> list[str]:
        out = subprocess.run(
            ["git", "ls-files", "-z", *args], cwd=repo, capture_output=True, check=True
        ).stdout
        return [p for p in out.decode().split("\0") if p]

    def size(paths: list[str]) -> int:
        total = 0
        for p in paths:
            if p == exclude or p.startswith(exclude + "/"):
                continue
            path = repo / p
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        return total

    return size(listed()), size(listed("--others", "--exclude-standard"))


def set_aside(repo: Path, paths: Sequence[str] = SET_ASIDE) -> list[str]:
    """Move ``paths`` (tracked files training does not read) under ``repo/ASIDE_DIR``."""
    moved = []
    for rel in paths:
        source, target = repo / rel, repo / ASIDE_DIR / rel
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            moved.append(rel)
    return moved


def restore_aside(repo: Path) -> list[str]:
    """Put back what ``set_aside`` moved; a file changed in place since is not overwritten."""
    aside = repo / ASIDE_DIR
    restored = []
    if not aside.is_dir():
        return restored
    for held in sorted(p for p in aside.rglob("*") if p.is_file()):
        rel = held.relative_to(aside).as_posix()
        target = repo / rel
        if target.exists():
            say(f"note: {rel} exists again; the copy set aside stays in {ASIDE_DIR}/")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(held, target)
        restored.append(rel)
    return restored


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- pack (here) -------------------------------------------------------------------------


def config_cache_info(config: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Where ``molspace.model.train`` looks for the token cache of ``config``: the
    cache folder and key as molspace computes them (needs molspace; imported here)."""
    from molspace.model.config import load_train_config, parse_overrides
    from molspace.model.data import _cache_key, file_sha256

    cfg = load_train_config(config, parse_overrides(overrides))
    data = cfg.data
    data_hash = file_sha256(data.path)
    key = _cache_key(data_hash, data.smiles_column, data.stereo, data.max_length)
    return {
        "data_path": str(data.path),
        "data_sha256": data_hash,
        "cache_dir": str(data.cache_dir),
        "key": key,
    }


def pack_labels(cache_dir: Path, data_sha256: str, dest: Path) -> list[str]:
    """Copy the cached property targets of this data set (``props-<hash16>-*.npy``, written
    by a CPU run with a property head; ~2.4 MB for MOSES's 205,000 labelled rows) into
    ``dest``: the GPU machine has no RDKit to compute them, and reads them from the cache."""
    if dest.exists():
        shutil.rmtree(dest)
    found = sorted(cache_dir.glob(f"props-{data_sha256[:16]}-*.npy"))
    if found:
        dest.mkdir(parents=True)
    for path in found:
        shutil.copyfile(path, dest / path.name)
    return [path.name for path in found]


def unpack_labels(src: Path, cache_dir: Path) -> list[str]:
    """Put packed property targets where ``molspace.model.train`` looks for them."""
    placed = []
    for path in sorted(src.glob("props-*.npy")) if src.is_dir() else []:
        target = cache_dir / path.name
        if not target.is_file():
            cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        placed.append(path.name)
    return placed


def pinned_versions(packages: Sequence[str] = WHEEL_PACKAGES) -> dict[str, str]:
    """The versions of ``packages`` in the running interpreter (this project's venv)."""
    from importlib import metadata

    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(
                f"error: {name} is not installed here; run pack with .venv/bin/python"
            ) from None
    return found


def download_wheels(dest: Path, pins: Mapping[str, str]) -> list[Path]:
    """Download the pinned wheels for CPython 3.12 manylinux x86_64 (the GPU machine)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *PIP_PLATFORM, "-d", str(dest)]
    cmd += [f"{name}=={version}" for name, version in pins.items()]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(pins):
        raise SystemExit(f"error: expected {len(pins)} wheels in {dest}, got {len(wheels)}")
    return wheels


def build_device_dir(
    config: str,
    out: Path,
    *,
    cache_dir: str | None = None,
    overrides: Sequence[str] = (),
    wheels: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Write ``out`` (normally .device/): the config's token cache, packed, plus the wheels
    and a manifest. The xz step takes minutes for MOSES and is skipped when ``out``
    already holds the same tokens (same SHA-256) unless ``force``."""
    sets = list(overrides) + ([f"data.cache_dir={json.dumps(cache_dir)}"] if cache_dir else [])
    info = config_cache_info(config, sets)
    src = Path(info["cache_dir"]) / info["key"]
    if not (src / "meta.json").is_file():
        raise SystemExit(
            f"error: no token cache {src} for {config}; build it first (a short "
            "`python -m molspace.model.train` run, or molspace.model.data.load_or_build_dataset)"
        )
    out.mkdir(parents=True, exist_ok=True)
    old = {}
    if (out / MANIFEST).is_file():
        old = json.loads((out / MANIFEST).read_text())
    dest = out / "cache" / info["key"]
    packed = (old.get("cache") or {}).get("packed")
    if (
        not force
        and packed
        and old.get("cache", {}).get("key") == info["key"]
        and (dest / "tokens.npy.xz").is_file()
        and (src / "tokens.npy").stat().st_size == packed["tokens_bytes"]
        and sha256_file(src / "tokens.npy") == packed["tokens_sha256"]
    ):
        say(f"{dest}/tokens.npy.xz is up to date (same tokens); not recompressing")
    else:
        if (out / "cache").exists():
            shutil.rmtree(out / "cache")
        say(f"compressing {src}/tokens.npy with xz (preset 6; minutes for MOSES)")
        started = time.monotonic()
        packed = pack_cache(src, dest)
        say(
            f"tokens.npy {packed['tokens_bytes'] / MIB:.1f} MiB -> "
            f"{packed['xz_bytes'] / MIB:.1f} MiB in {time.monotonic() - started:.0f} s"
        )
    labels = pack_labels(Path(info["cache_dir"]), info["data_sha256"], out / "labels")
    if labels:
        say(f"property targets packed: {', '.join(labels)}")
    manifest: dict[str, Any] = {
        "config": config,
        "overrides": sets,
        "cache": {**info, "packed": packed},
        "labels": labels,
        "wheels": {},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")  # cache done
    if wheels:
        pins = pinned_versions()
        found = download_wheels(out / "wheels", pins)
        manifest["wheels"] = {"pins": pins, "files": [w.name for w in found]}
        say("wheels: " + ", ".join(w.name for w in found))
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def cmd_pack(args: argparse.Namespace) -> int:
    out = Path(args.out)
    manifest = build_device_dir(
        args.run_config,
        out,
        cache_dir=args.cache_dir,
        overrides=args.overrides,
        wheels=not args.no_wheels,
        force=args.force,
    )
    try:
        exclude = str(out.resolve().relative_to(REPO))
    except ValueError:  # outside the working tree: it is not copied with it
        exclude = DEFAULT_DEVICE_DIR
    repo = Path(args.repo)
    tracked, untracked = tree_bytes(repo, exclude=exclude)
    device = folder_bytes(out)
    total = tracked + untracked + device
    if total > CARRY_MAX_BYTES and not args.keep_tree:
        moved = set_aside(repo)
        if moved:
            say(
                f"set aside (training does not read them; `restore` or `collect` puts them "
                f"back): {', '.join(moved)} -> {ASIDE_DIR}/"
            )
            tracked, untracked = tree_bytes(repo, exclude=exclude)
            total = tracked + untracked + device
    say(
        f"carry size: tracked {tracked / MIB:.2f} MiB + untracked-not-ignored "
        f"{untracked / MIB:.2f} MiB + {out} {device / MIB:.2f} MiB = {total / MIB:.2f} MiB "
        f"(limit {CARRY_MAX_BYTES / MIB:.0f} MiB)"
    )
    cache = manifest["cache"]
    say(f"cache key {cache['key']} (data sha256 {cache['data_sha256'][:16]}...)")
    if total > CARRY_MAX_BYTES:
        say("error: over the carry limit; the device call would not get all of it")
        return 1
    return 0


def cmd_cache_info(args: argparse.Namespace) -> int:
    print(json.dumps(config_cache_info(args.config, args.overrides)))
    return 0


# -- train (there) -------------------------------------------------------------------------


def install_wheels(wheel_dir: Path, site: Path) -> None:
    """Install the packed wheels into ``site`` with pip (no index, no deps); unzip them
    when pip is missing: they are pure-python or manylinux wheels without scripts."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"error: no wheels in {wheel_dir}; run pack here first")
    site.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    cmd += ["--no-compile", "--target", str(site), *map(str, wheels)]
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        say(f"pip install failed (exit {done.returncode}); unzipping the wheels instead")
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
    say(f"installed {len(wheels)} wheels into {site}")


class Child:
    """The training subprocess: output teed to stdout and train.log; SIGTERM on request."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.stop = False

    def terminate(self) -> None:
        self.stop = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def run(self, cmd: list[str], env: dict[str, str], log: Path, deadline: float) -> int:
        if self.stop:
            return EXIT_INTERRUPTED
        say("$ " + " ".join(cmd))
        with log.open("a") as log_file:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )

            def tee() -> None:
                assert self.proc is not None and self.proc.stdout is not None
                for line in self.proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    log_file.write(line)
                    log_file.flush()

            reader = threading.Thread(target=tee, daemon=True)
            reader.start()
            try:
                self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say("deadline reached: SIGTERM to the training (it saves a checkpoint)")
                self.terminate()
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    say("training did not stop within 60 s: SIGKILL")
                    self.proc.kill()
                    self.proc.wait()
            reader.join(timeout=10)
        rc = self.proc.returncode
        self.proc = None
        say(f"training process exited with {rc}")
        return rc


def step_rate(run: Path) -> float | None:
    """Optimizer steps per second of step time (what ``max_hours`` counts), from steps.csv
    after its first row (the first window holds CUDA start-up), else from the checkpoint."""
    rows = []
    steps_csv = run / "steps.csv"
    if steps_csv.is_file():
        with steps_csv.open() as handle:
            rows = [(int(r["step"]), float(r["time_s"])) for r in csv.DictReader(handle)]
    if len(rows) >= 2 and rows[-1][1] - rows[0][1] > 0.5:
        return (rows[-1][0] - rows[0][0]) / (rows[-1][1] - rows[0][1])
    state = read_state(run)
    if state and state.get("elapsed_s"):
        return state["step"] / state["elapsed_s"]
    return None


def read_state(run: Path) -> dict[str, Any] | None:
    path = run / "checkpoint" / CHECKPOINT_STATE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_training(args: argparse.Namespace, env: dict[str, str], run: Path, child: Child) -> int:
    """Calibrate, then train to the step count that fills ``--minutes`` (or resume an
    existing run for ``--minutes`` more); falls back to fp32 if the first attempt fails
    before its first checkpoint (bf16 autocast of cuDNN GRUs is unverified)."""
    deadline = args.started + args.deadline_minutes * 60
    log = run / "train.log"
    module = [sys.executable, "-m", "molspace.model.train"]
    budget_h = args.minutes / 60
    device = [f"device={args.device}"] if args.device else []
    if read_state(run) is not None:
        state = read_state(run) or {}
        hours = state.get("elapsed_s", 0.0) / 3600 + budget_h
        say(f"{run} holds a checkpoint at step {state.get('step')}: {args.minutes} min more")
        sets = [f"max_hours={hours}", *device]
        return child.run([*module, str(run), "--resume", *_sets(sets)], env, log, deadline)
    calibrating = 0 < args.calibrate_seconds < args.minutes * 60
    first_h = args.calibrate_seconds / 3600 if calibrating else budget_h
    user = list(args.overrides)

    def first_phase() -> int:
        cmd = [*module, args.config, str(run)]
        return child.run(cmd + _sets([f"max_hours={first_h}", *device, *user]), env, log, deadline)

    rc = first_phase()
    failed_early = rc not in (0, EXIT_INTERRUPTED) and read_state(run) is None
    if failed_early and not child.stop and not any(_key(s) == "bf16" for s in user):
        say("training failed before its first checkpoint: retrying once with bf16=false")
        for name in ("steps.csv", "metrics.csv", "metrics.json"):
            (run / name).unlink(missing_ok=True)
        for name in ("best", "final"):
            shutil.rmtree(run / name, ignore_errors=True)
        user.append("bf16=false")
        rc = first_phase()
    if rc != 0 or not calibrating or child.stop:
        return rc
    state = read_state(run) or {}
    rate = step_rate(run)
    remaining = args.minutes * 60 - state.get("elapsed_s", 0.0)
    if rate is None or remaining <= 0:
        return rc
    max_steps = max(int(state["step"] + rate * remaining * 0.98), state["step"] + 1)
    say(
        f"calibration: {rate:.1f} steps/s of step time at step {state['step']:,}; "
        f"resuming to max_steps={max_steps:,} (the cosine learning rate ends there)"
    )
    sets = [f"max_hours={budget_h}", f"max_steps={max_steps}"]
    return child.run([*module, str(run), "--resume", *_sets(sets)], env, log, deadline)


def _key(pair: str) -> str:
    return pair.partition("=")[0].strip()


def _sets(pairs: Sequence[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def plan_out(run: Path, staging: Path, part_bytes: int) -> dict[str, list[tuple[str, Path]]]:
    """Files to bring back, by group (``logs``, ``best``, ``checkpoint``), as (relative
    $OUT path, source) pairs; the checkpoint's safetensors is split into ``staging``."""
    groups: dict[str, list[tuple[str, Path]]] = {"logs": [], "best": [], "checkpoint": []}
    for name in ("model.safetensors", "model.json"):
        if (run / "best" / name).is_file():
            groups["best"].append((f"best/{name}", run / "best" / name))
    ckpt = run / "checkpoint"
    if (ckpt / CHECKPOINT_TENSORS).is_file() and (ckpt / CHECKPOINT_STATE).is_file():
        parts = split_file(ckpt / CHECKPOINT_TENSORS, staging / "parts", part_bytes)
        groups["checkpoint"] = [(f"checkpoint/{p.name}", p) for p in parts]
        groups["checkpoint"].append((f"checkpoint/{CHECKPOINT_STATE}", ckpt / CHECKPOINT_STATE))
    return groups


def write_archive(run: Path, dest: Path, info: Mapping[str, Any]) -> Path:
    """One tar.gz of the run's small files plus ``device.json`` (file count is the tight
    limit of $OUT, and steps.csv/train.log compress well)."""
    with tarfile.open(dest, "w:gz") as archive:
        for name in RUN_TEXT_FILES:
            if (run / name).is_file():
                archive.add(run / name, arcname=name)
        data = (json.dumps(info, indent=1) + "\n").encode()
        member = tarfile.TarInfo(OUT_INFO)
        member.size = len(data)
        member.mtime = int(time.time())
        member.mode = 0o644
        archive.addfile(member, io.BytesIO(data))
    return dest


def collect_to_out(run: Path, out: Path, info: dict[str, Any], part_bytes: int) -> list[str]:
    """Copy the run's results into ``out`` within the limits; drops the checkpoint first,
    then the best bundle, when they do not fit. Returns the relative paths written."""
    existing = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    with tempfile.TemporaryDirectory(prefix="device_out.") as tmp:
        staging = Path(tmp)
        groups = plan_out(run, staging, part_bytes)
        dropped: list[str] = []
        chosen = ["logs", "best", "checkpoint"]
        archive_guess = 2 * MIB  # the archive is written last (it records what was dropped)
        while True:
            sizes = dict(existing)
            sizes[RUN_ARCHIVE] = archive_guess
            for group in chosen:
                sizes.update({rel: src.stat().st_size for rel, src in groups[group]})
            problems = check_out_limits(sizes)
            if not problems or chosen == ["logs"]:
                break
            group = chosen.pop()
            if groups[group]:
                dropped.append(group)
                say(f"dropping {group} from $OUT: " + "; ".join(problems))
        info = {
            **info,
            "dropped": dropped,
            "part_bytes": part_bytes,
            "checkpoint_parts": [
                rel.split("/")[-1] for rel, _ in groups["checkpoint"] if ".part" in rel
            ]
            if "checkpoint" in chosen
            else [],
        }
        tensors = run / "checkpoint" / CHECKPOINT_TENSORS
        if "checkpoint" in chosen and groups["checkpoint"]:
            info["checkpoint_sha256"] = sha256_file(tensors)
            info["checkpoint_bytes"] = tensors.stat().st_size
        written = []
        for group in chosen:
            for rel, src in groups[group]:
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
                written.append(rel)
        out.mkdir(parents=True, exist_ok=True)
        write_archive(run, out / RUN_ARCHIVE, info)
        written.append(RUN_ARCHIVE)
    final = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    problems = check_out_limits(final)
    for rel in written:
        say(f"$OUT/{rel}: {final[rel] / MIB:.2f} MiB")
    if problems:
        say("WARNING: $OUT is over the limits: " + "; ".join(problems))
    return written


def cmd_train(args: argparse.Namespace) -> int:
    args.started = time.monotonic()
    if not os.environ.get("OUT"):
        print(
            "error: OUT is not set; train writes what should come back into $OUT "
            "(the device tool sets it; set OUT=/some/empty/dir to try it elsewhere)",
            file=sys.stderr,
        )
        return 2
    if args.deadline_minutes is None:
        args.deadline_minutes = args.minutes + 1.5
    out = Path(os.environ["OUT"])
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)
    device_dir = Path(args.device_dir)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    LOG_FILES.append(run / "train.log")
    child = Child()
    previous = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    info: dict[str, Any] = {"minutes": args.minutes, "config": args.config}
    rc = 1
    try:
        manifest = json.loads((device_dir / MANIFEST).read_text())
        paths = [str(REPO)]
        if not args.no_install:
            install_wheels(device_dir / "wheels", Path(args.site))
            paths.insert(0, args.site)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
        env["PYTHONUNBUFFERED"] = "1"
        probe = subprocess.run(
            [sys.executable, SCRIPT, "cache-info", args.config, *_sets(args.overrides)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            raise RuntimeError(f"cannot read {args.config} with molspace:\n{probe.stderr}")
        where = json.loads(probe.stdout)
        packed = manifest["cache"]
        if where["key"] != packed["key"]:
            raise RuntimeError(
                f"{device_dir} holds the token cache {packed['key']} ({packed['data_path']}) "
                f"but {args.config} needs {where['key']} ({where['data_path']}): run pack "
                "with this config"
            )
        target = Path(where["cache_dir"]) / where["key"]
        if (target / "meta.json").is_file() and (target / "tokens.npy").is_file():
            say(f"token cache {target} already present")
        else:
            started = time.monotonic()
            unpack_cache(device_dir / "cache" / packed["key"], target, packed["packed"])
            say(f"unpacked the token cache into {target} in {time.monotonic() - started:.1f} s")
        labels = unpack_labels(device_dir / "labels", Path(where["cache_dir"]))
        if labels:
            say(f"property targets in {where['cache_dir']}: {', '.join(labels)}")
        rc = run_training(args, env, run, child)
    except Exception as exc:  # whatever failed, still bring back the logs
        say(f"error: {type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGTERM, previous)
        info["training_exit"] = rc
        info["wall_s"] = round(time.monotonic() - args.started, 1)
        state = read_state(run) or {}
        info["step"] = state.get("step")
        info["best_val_loss"] = state.get("best_val_loss")
        collect_to_out(run, out, info, args.part_bytes)
        say(
            f"done in {info['wall_s']:.0f} s: training exit {rc}, step {info['step']}, "
            f"best validation loss {info['best_val_loss']}"
        )
    return 0 if rc == 0 else (rc if rc > 0 else 1)


# -- collect (here) ------------------------------------------------------------------------


def cmd_restore(args: argparse.Namespace) -> int:
    restored = restore_aside(Path(args.repo))
    say(f"restored {', '.join(restored)}" if restored else "nothing set aside")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    restored = restore_aside(REPO)
    if restored:
        say(f"restored what pack set aside: {', '.join(restored)}")
    files = Path(args.files_dir)
    run = Path(args.run)
    archive = files / RUN_ARCHIVE
    if not archive.is_file():
        print(f"error: {archive} missing: not the files of a device_train run", file=sys.stderr)
        return 2
    if run.exists() and any(run.iterdir()) and not args.force:
        print(f"error: {run} is not empty (use --force to overwrite)", file=sys.stderr)
        return 2
    run.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not OUT_NAME.match(member.name):
                print(f"skipping archive member {member.name!r}", file=sys.stderr)
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            if member.name == OUT_INFO:
                info = json.loads(data)
            (run / member.name).write_bytes(data)
    if (files / "best" / "model.json").is_file():
        (run / "best").mkdir(exist_ok=True)
        for name in ("model.safetensors", "model.json"):
            shutil.copyfile(files / "best" / name, run / "best" / name)
    parts = [files / "checkpoint" / name for name in info.get("checkpoint_parts", [])]
    if parts:
        ckpt = run / "checkpoint"
        size = join_parts(parts, ckpt / CHECKPOINT_TENSORS)
        if size != info.get("checkpoint_bytes") or sha256_file(
            ckpt / CHECKPOINT_TENSORS
        ) != info.get("checkpoint_sha256"):
            print(f"error: {ckpt / CHECKPOINT_TENSORS}: parts do not add up", file=sys.stderr)
            return 1
        shutil.copyfile(files / "checkpoint" / CHECKPOINT_STATE, ckpt / CHECKPOINT_STATE)
    elif info.get("dropped"):
        print(f"note: the device dropped {', '.join(info['dropped'])} (limits)", file=sys.stderr)
    print(
        f"collected into {run}: training exit {info.get('training_exit')}, step "
        f"{info.get('step')}, best validation loss {info.get('best_val_loss')}, "
        f"checkpoint {'yes' if parts else 'no'}"
    )
    if (run / "best" / "model.json").is_file() and not args.no_verify:
        from molspace.model.bundle import load_bundle

        bundle = load_bundle(run / "best")
        print(f"best bundle loads: {bundle.model.num_parameters():,} parameters")
    return 0


# -- CLI -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    pack = sub.add_parser("pack", help="here: write .device/ (token cache xz + wheels)")
    pack.add_argument("--run-config", default=DEFAULT_CONFIG)
    pack.add_argument("--cache-dir", default=None, help="default: the config's data.cache_dir")
    pack.add_argument("--out", default=DEFAULT_DEVICE_DIR)
    pack.add_argument("--set", dest="overrides", action="append", default=[])
    pack.add_argument("--no-wheels", action="store_true", help="skip the wheel download")
    pack.add_argument("--force", action="store_true", help="recompress even if up to date")
    pack.add_argument(
        "--keep-tree",
        action="store_true",
        help=f"never move {', '.join(SET_ASIDE)} aside when the tree is over the limit",
    )
    pack.add_argument("--repo", default=str(REPO), help=argparse.SUPPRESS)
    pack.set_defaults(func=cmd_pack)

    restore = sub.add_parser("restore", help=f"here: put back what pack set aside ({ASIDE_DIR})")
    restore.add_argument("--repo", default=str(REPO), help=argparse.SUPPRESS)
    restore.set_defaults(func=cmd_restore)

    train = sub.add_parser("train", help="there: install, unpack, train, fill $OUT")
    train.add_argument("--minutes", type=float, required=True, help="optimizer-step time")
    train.add_argument("--config", default=DEFAULT_CONFIG)
    train.add_argument("--run", default=DEFAULT_RUN)
    train.add_argument("--device", choices=("cuda", "cpu", "auto"), default=None)
    train.add_argument("--set", dest="overrides", action="append", default=[])
    train.add_argument(
        "--calibrate-seconds",
        type=float,
        default=45.0,
        help="step time of the rate-measuring first phase (0: one phase, no max_steps)",
    )
    train.add_argument(
        "--deadline-minutes",
        type=float,
        default=None,
        help="wall clock from start after which training gets SIGTERM (default minutes+1.5)",
    )
    train.add_argument("--device-dir", default=DEFAULT_DEVICE_DIR)
    train.add_argument("--site", default=DEFAULT_SITE)
    train.add_argument("--no-install", action="store_true", help="wheels already importable")
    train.add_argument("--part-bytes", type=int, default=PART_BYTES, help=argparse.SUPPRESS)
    train.set_defaults(func=cmd_train)

    collect = sub.add_parser("collect", help="here: rebuild a run directory from $OUT files")
    collect.add_argument("files_dir")
    collect.add_argument("--run", default=DEFAULT_RUN)
    collect.add_argument("--force", action="store_true")
    collect.add_argument("--no-verify", action="store_true", help="skip load_bundle")
    collect.set_defaults(func=cmd_collect)

    info = sub.add_parser("cache-info", help="internal: the config's token cache key (JSON)")
    info.add_argument("config")
    info.add_argument("--set", dest="overrides", action="append", default=[])
    info.set_defaults(func=cmd_cache_info)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
