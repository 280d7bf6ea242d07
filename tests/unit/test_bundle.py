"""Model bundles: the committed tiny bundle loads; any tampering is one clear BundleError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from molspace.errors import BundleError
from molspace.model.bundle import SCHEMA_VERSION, load_bundle, save_bundle

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_vae"


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(TINY, target)
    return target


def test_committed_tiny_bundle_loads() -> None:
    bundle = load_bundle(TINY)
    meta = bundle.metadata
    assert meta["schema_version"] == SCHEMA_VERSION
    assert bundle.latent_dim == meta["architecture"]["config"]["latent_dim"]
    assert len(bundle.vocabulary) == meta["architecture"]["vocab_size"]
    assert meta["training"]["data_hash"] and meta["training"]["steps"] > 0
    assert not bundle.model.training


def test_save_then_load_is_identical(tmp_path: Path) -> None:
    bundle = load_bundle(TINY)
    out = save_bundle(
        tmp_path / "copy", bundle.model, bundle.vocabulary, bundle.metadata["training"]
    )
    again = load_bundle(out)
    for key, value in bundle.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key])
    assert again.vocabulary == bundle.vocabulary


def _one_line(exc: pytest.ExceptionInfo[BundleError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_flipped_byte_is_detected(bundle_copy: Path) -> None:
    weights = bundle_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_copy)
    assert "SHA-256" in _one_line(exc)


def test_truncated_weights_are_detected(bundle_copy: Path) -> None:
    weights = bundle_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_copy)
    assert "truncated" in _one_line(exc)


def test_edited_json_is_detected(bundle_copy: Path) -> None:
    meta_path = bundle_copy / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["architecture"]["config"]["latent_dim"] += 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_copy)
    assert "shape" in _one_line(exc)


def test_unknown_config_key_is_detected(bundle_copy: Path) -> None:
    meta_path = bundle_copy / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["architecture"]["config"]["hidden_sise"] = 3
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="invalid architecture"):
        load_bundle(bundle_copy)


def test_swapped_weights_with_matching_hash_fail_on_shapes(bundle_copy: Path) -> None:
    import hashlib

    weights = bundle_copy / "model.safetensors"
    state = load_file(str(weights))
    state["output.weight"] = torch.zeros(3, 3)
    save_file(state, str(weights))
    meta_path = bundle_copy / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    meta["weights"]["bytes"] = weights.stat().st_size
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"output\.weight has shape"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda p: (p / "model.json").write_text("{not json"), "invalid JSON"),
        (lambda p: (p / "model.json").unlink(), "model.json missing"),
        (lambda p: (p / "model.safetensors").unlink(), "missing"),
        (lambda p: _set(p, "schema_version", 99), "schema version 99"),
        (lambda p: _set(p, "format", "pickle"), "not a"),
    ],
)
def test_broken_bundles_raise_bundle_error(bundle_copy: Path, edit, pattern: str) -> None:
    edit(bundle_copy)
    with pytest.raises(BundleError, match=pattern):
        load_bundle(bundle_copy)


def test_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nothing")


def _set(path: Path, key: str, value: object) -> None:
    meta = json.loads((path / "model.json").read_text())
    meta[key] = value
    (path / "model.json").write_text(json.dumps(meta))
