"""scripts/device_train.py: the GPU-session recipe (pack here, train there, collect here).

No GPU and no network: the end-to-end test trains a tiny model on CPU from a packed
token cache, with RDKit made unimportable, and rebuilds the run from what $OUT holds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device_train.py"
TINY_CSV = ROOT / "tests" / "data" / "tiny_vae" / "sample_molecules.csv"
MIB = 2**20


@pytest.fixture(scope="module")
def dt():
    spec = importlib.util.spec_from_file_location("device_train", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_imports_only_the_standard_library():
    code = (
        "import sys, runpy; before = set(sys.modules); "
        f"runpy.run_path({str(SCRIPT)!r}, run_name='not_main'); "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 2500])
def test_split_join_round_trip(dt, tmp_path, size):
    data = os.urandom(size)
    src = tmp_path / "state.safetensors"
    src.write_bytes(data)
    parts = dt.split_file(src, tmp_path / "parts", part_bytes=1000)
    assert [p.name for p in parts] == dt.part_names(src.name, size, 1000)
    assert parts[0].name == "state.safetensors.part00"
    assert len(parts) == max(1, -(-size // 1000))
    assert all(p.stat().st_size <= 1000 for p in parts)
    assert dt.join_parts(parts, tmp_path / "joined" / "x") == size
    assert (tmp_path / "joined" / "x").read_bytes() == data


def test_out_limits(dt):
    ok = {
        "run-files.tar.gz": 10_000,
        "best/model.safetensors": 13 * MIB,
        "checkpoint/state.safetensors.part00": 15 * MIB,
    }
    assert dt.check_out_limits(ok) == []
    too_many = {f"f{i}": 1 for i in range(9)}
    assert any("9 files" in p for p in dt.check_out_limits(too_many))
    assert any("per file" in p for p in dt.check_out_limits({"a": 16 * MIB + 1}))
    assert dt.check_out_limits({"a": 16 * MIB}) == []
    too_much = {f"f{i}": 13 * MIB for i in range(5)}
    assert any("in all" in p for p in dt.check_out_limits(too_much))
    assert any("deeper" in p for p in dt.check_out_limits({"a/b/c/file": 1}))
    assert dt.check_out_limits({"a/b/file": 1}) == []
    assert any("name" in p for p in dt.check_out_limits({"a b": 1}))
    assert any("name" in p for p in dt.check_out_limits({"a/../b": 1}))


def test_cache_pack_unpack_round_trip(dt, tmp_path):
    tokens = np.random.default_rng(0).integers(0, 28, size=(500, 56), dtype=np.uint8)
    src = tmp_path / "cache" / "abc123"
    src.mkdir(parents=True)
    np.save(src / "tokens.npy", tokens)
    (src / "meta.json").write_text(json.dumps({"n_input": 500}))
    (src / "rejects.csv").write_text("source,row,id,input,reason\n")
    packed = dt.pack_cache(src, tmp_path / "device" / "cache" / "abc123")
    assert (tmp_path / "device" / "cache" / "abc123" / "tokens.npy.xz").is_file()
    assert packed["tokens_bytes"] == (src / "tokens.npy").stat().st_size
    dest = tmp_path / "unpacked" / "abc123"
    dt.unpack_cache(tmp_path / "device" / "cache" / "abc123", dest, packed)
    assert (dest / "tokens.npy").read_bytes() == (src / "tokens.npy").read_bytes()
    np.testing.assert_array_equal(np.load(dest / "tokens.npy"), tokens)
    assert json.loads((dest / "meta.json").read_text()) == {"n_input": 500}
    assert (dest / "rejects.csv").read_text() == (src / "rejects.csv").read_text()
    assert sorted(p.name for p in dest.iterdir()) == ["meta.json", "rejects.csv", "tokens.npy"]
    with pytest.raises(ValueError, match="does not match"):
        dt.unpack_cache(
            tmp_path / "device" / "cache" / "abc123",
            tmp_path / "bad",
            {**packed, "tokens_sha256": "0" * 64},
        )
    assert not (tmp_path / "bad" / "meta.json").exists()


def test_collect_to_out_drops_the_checkpoint_first(dt, tmp_path):
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "checkpoint").mkdir()
    (run / "best" / "model.safetensors").write_bytes(b"w" * 100)
    (run / "best" / "model.json").write_text("{}")
    (run / "checkpoint" / "state.safetensors").write_bytes(os.urandom(10_000))
    (run / "checkpoint" / "state.json").write_text("{}")
    (run / "train.log").write_text("log\n")
    out = tmp_path / "out"
    out.mkdir()
    # 1,000-byte parts: 10 parts + state.json + best + archive > 8 files
    written = dt.collect_to_out(run, out, {"step": 3}, part_bytes=1000)
    assert sorted(written) == ["best/model.json", "best/model.safetensors", "run-files.tar.gz"]
    with tarfile.open(out / "run-files.tar.gz") as tar:
        info = json.load(tar.extractfile("device.json"))
        assert "train.log" in tar.getnames()
    assert info["dropped"] == ["checkpoint"] and info["checkpoint_parts"] == []
    # with 4,000-byte parts it all fits: 3 parts
    out2 = tmp_path / "out2"
    out2.mkdir()
    written = dt.collect_to_out(run, out2, {}, part_bytes=4000)
    assert len([w for w in written if ".part" in w]) == 3


def test_train_refuses_a_missing_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "train", "--minutes", "1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "OUT is not set" in done.stderr


TINY_CONFIG = """
[train]
seed = 0
epochs = 100
eval_every_steps = 40
patience = 50
checkpoint_minutes = 10.0
log_every_steps = 10
device = "cuda"            # the test overrides it with --device cpu
threads = 1
bf16 = false

[train.data]
path = "{csv}"
validation_fraction = 0.1
cache_dir = "{cache}"

[train.model]
embedding_dim = 8
encoder_hidden = 16
latent_dim = 4
decoder_hidden = 16

[train.optim]
batch_size = 16

[train.kl]
hold_steps = 5
warmup_steps = 10
"""


@pytest.mark.slow  # two torch start-ups in subprocesses: ~12 s of CPU, more on a busy machine
def test_train_on_cpu_end_to_end(dt, tmp_path):
    from molspace.model.bundle import load_bundle
    from molspace.model.checkpoint import checkpoint_exists, read_checkpoint_state
    from molspace.model.data import load_or_build_dataset

    # the token cache as it exists here (built with RDKit), packed as `pack` does
    load_or_build_dataset(TINY_CSV, cache_dir=tmp_path / "src_cache", log=lambda m: None)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG.format(csv=TINY_CSV, cache=tmp_path / "src_cache"))
    device_dir = tmp_path / "device"
    manifest = dt.build_device_dir(str(config), device_dir, wheels=False)
    assert (device_dir / "cache" / manifest["cache"]["key"] / "tokens.npy.xz").is_file()
    # there: the cache goes to another cache_dir; RDKit cannot be imported
    config.write_text(TINY_CONFIG.format(csv=TINY_CSV, cache=tmp_path / "run_cache"))
    blocker = tmp_path / "blocker" / "rdkit"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('rdkit blocked by the test')\n")
    out = tmp_path / "out"
    run = tmp_path / "run"
    env = {**os.environ, "OUT": str(out), "PYTHONPATH": str(blocker.parent)}
    cmd = [sys.executable, str(SCRIPT), "train", "--minutes", "0.05", "--config", str(config)]
    cmd += ["--run", str(run), "--device", "cpu", "--device-dir", str(device_dir)]
    cmd += ["--no-install", "--calibrate-seconds", "0.5", "--part-bytes", "25000"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "loaded tokenized data from cache" in log
    assert "encoding to SELFIES" not in log
    assert "calibration:" in log and "--resume" in log

    files = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    assert dt.check_out_limits(files) == []
    assert {"best/model.safetensors", "best/model.json", "run-files.tar.gz"} <= set(files)
    parts = sorted(f for f in files if f.startswith("checkpoint/state.safetensors.part"))
    assert len(parts) >= 2 and "checkpoint/state.json" in files

    rebuilt = tmp_path / "rebuilt"
    assert dt.main(["collect", str(out), "--run", str(rebuilt)]) == 0
    bundle = load_bundle(rebuilt / "best")
    assert bundle.latent_dim == 4
    assert checkpoint_exists(rebuilt)
    for name in ("config.json", "metrics.csv", "metrics.json", "steps.csv", "train.log"):
        assert (rebuilt / name).is_file(), name
    state = read_checkpoint_state(rebuilt)
    assert state["step"] > 0 and state["config"]["device"] == "cpu"

    # the rebuilt run resumes (what `python -m molspace.model.train RUN --resume` does)
    from molspace.model.train import resume_config, train

    overrides = {"max_steps": state["step"] + 2, "max_hours": 1.0, "epochs": 10_000}
    resumed = resume_config(rebuilt, overrides)
    result = train(resumed, rebuilt, resume=True, progress=False, log=lambda m: None)
    assert result.steps == state["step"] + 2


def test_pack_sets_aside_what_training_does_not_read_and_collect_puts_it_back(dt, tmp_path):
    """Over the carry limit, the MOSES reference statistics leave the tree (into an
    ignored folder that does not travel) and come back unchanged."""
    repo = tmp_path / "repo"
    stats = repo / "libraries" / "moses" / "stats"
    stats.mkdir(parents=True)
    payload = os.urandom(3 * MIB)
    (stats / "test.npz").write_bytes(payload)
    (repo / "keep.txt").write_text("trained on\n")
    (repo / ".gitignore").write_text(f"/{dt.ASIDE_DIR}/\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    before = dt.tree_bytes(repo)[0]
    moved = dt.set_aside(repo)
    assert moved == ["libraries/moses/stats/test.npz"]
    assert not (stats / "test.npz").exists()
    after_tracked, after_untracked = dt.tree_bytes(repo)
    assert before - after_tracked == len(payload) and after_untracked == 0  # ignored: stays
    assert dt.restore_aside(repo) == moved
    assert (stats / "test.npz").read_bytes() == payload
    assert dt.restore_aside(repo) == []  # nothing left aside


def test_property_targets_travel_with_the_cache(dt, tmp_path):
    """A CPU run's cached RDKit targets of this data set go into .device and back into
    the cache folder there (the GPU machine cannot compute them); others stay behind."""
    cache = tmp_path / "cache"
    cache.mkdir()
    targets = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(cache / "props-0123456789abcdef-qed-sa-clogp-4of9s0.npy", targets)
    np.save(cache / "props-ffffffffffffffff-qed-4of9s0.npy", targets[:, :1])  # other data
    packed = dt.pack_labels(cache, "0123456789abcdef" + "0" * 48, tmp_path / "device" / "labels")
    assert packed == ["props-0123456789abcdef-qed-sa-clogp-4of9s0.npy"]
    there = tmp_path / "there" / "cache"
    assert dt.unpack_labels(tmp_path / "device" / "labels", there) == packed
    np.testing.assert_array_equal(np.load(there / packed[0]), targets)
    assert dt.unpack_labels(tmp_path / "nothing", there) == []
