"""The model bundle: ``model.safetensors`` (weights) + ``model.json`` (everything else).

Loading never unpickles: weights come through ``safetensors`` and metadata through
``json``. It checks, in order, the schema, the weights file's size and SHA-256,
the architecture config, the vocabulary, and that every tensor has the expected
name and shape; any failure is one ``BundleError`` line naming the bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from molspace.errors import BundleError, ConfigError, VocabularyError

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_BUNDLE",
    "SCHEMA_VERSION",
    "ModelBundle",
    "bundle_metadata",
    "load_bundle",
    "save_bundle",
]

BUNDLE_FORMAT = "molspace-selfies-vae"
SCHEMA_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "data" / "models" / "moses_vae"


@dataclass
class ModelBundle:
    """A loaded model: the torch module (eval mode), its vocabulary and its metadata."""

    model: Any  # SelfiesVAE
    vocabulary: Any  # Vocabulary
    metadata: dict[str, Any]
    path: Path
    config: Any = field(default=None)  # ModelConfig

    @property
    def latent_dim(self) -> int:
        return int(self.model.config.latent_dim)

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(self.model.config.properties)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_metadata(
    model: Any, vocabulary: Any, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON manifest of a model (weights fields are filled in by ``save_bundle``)."""
    from molspace.versions import __version__, versions

    return {
        "format": BUNDLE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "molspace_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": {
            # GRU encoder; the decoder as configured (bundles before the option: GRU)
            "name": "selfies-gru-vae"
            if model.config.decoder == "gru"
            else "selfies-gru-transformer-vae",
            "config": model.config.model_dump(mode="json"),
            "vocab_size": int(model.vocab_size),
            "max_length": int(model.max_length),
            "num_parameters": int(model.num_parameters()),
        },
        "vocabulary": vocabulary.to_dict(),
        "training": training or {},
        "versions": versions(),
    }


def save_bundle(
    path: str | Path, model: Any, vocabulary: Any, training: dict[str, Any] | None = None
) -> Path:
    """Write a bundle directory atomically (a reader never sees a half-written bundle)."""
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": BUNDLE_FORMAT})
        meta = bundle_metadata(model, vocabulary, training)
        meta["weights"] = {
            "file": WEIGHTS_FILE,
            "sha256": _sha256(tmp / WEIGHTS_FILE),
            "bytes": (tmp / WEIGHTS_FILE).stat().st_size,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        for written in (tmp / WEIGHTS_FILE, tmp / META_FILE):
            os.chmod(written, 0o644)
        # keep files a user put beside the bundle (MODEL_CARD.md, README)
        if target.is_dir():
            for extra in target.iterdir():
                if extra.name not in (WEIGHTS_FILE, META_FILE) and extra.is_file():
                    shutil.copy2(extra, tmp / extra.name)
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        os.chmod(target, 0o755)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fail(where: Path, message: str) -> BundleError:
    return BundleError(f"{where}: {message}")


def _read_metadata(root: Path) -> dict[str, Any]:
    meta_path = root / META_FILE
    if not root.exists():
        raise _fail(root, "model bundle not found")
    if not meta_path.is_file():
        raise _fail(root, f"not a model bundle ({META_FILE} missing)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(meta_path, f"invalid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise _fail(meta_path, f"not a {BUNDLE_FORMAT} bundle")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise _fail(
            meta_path,
            f"schema version {meta.get('schema_version')!r} is not supported "
            f"(this molspace reads {SCHEMA_VERSION})",
        )
    for key in ("architecture", "vocabulary", "weights"):
        if not isinstance(meta.get(key), dict):
            raise _fail(meta_path, f"missing or invalid '{key}'")
    return meta


def load_bundle(path: str | Path | None = None) -> ModelBundle:
    """Load and verify a bundle (None = the shipped MOSES model); ``BundleError`` on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from molspace.model.config import ModelConfig
    from molspace.model.vae import SelfiesVAE
    from molspace.model.vocabulary import Vocabulary

    root = Path(path) if path is not None else DEFAULT_BUNDLE
    meta = _read_metadata(root)
    weights_meta = meta["weights"]
    weights = root / str(weights_meta.get("file", WEIGHTS_FILE))
    if weights.parent != root or not weights.is_file():
        raise _fail(root, f"weights file {weights.name} missing")
    size = weights.stat().st_size
    if size != weights_meta.get("bytes"):
        raise _fail(
            weights, f"size {size} bytes, expected {weights_meta.get('bytes')} (truncated?)"
        )
    if _sha256(weights) != weights_meta.get("sha256"):
        raise _fail(weights, "SHA-256 does not match model.json (file changed or corrupted)")
    arch = meta["architecture"]
    try:
        config = ModelConfig.model_validate(arch.get("config"))
        vocabulary = Vocabulary.from_dict(meta["vocabulary"])
        vocab_size = int(arch["vocab_size"])
        max_length = int(arch["max_length"])
    except (ValueError, TypeError, KeyError, ConfigError, VocabularyError) as exc:
        message = str(exc).splitlines()[0]
        raise _fail(root / META_FILE, f"invalid architecture or vocabulary: {message}") from None
    if vocab_size != len(vocabulary) or max_length != vocabulary.max_length:
        raise _fail(root / META_FILE, "architecture does not match the vocabulary")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _fail(weights, f"unreadable safetensors file ({exc})") from None
    model = SelfiesVAE(config, vocab_size=vocab_size, max_length=max_length)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise _fail(
            weights,
            f"tensors do not match the architecture (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})",
        )
    wrong = [k for k in expected if expected[k] != found[k]]
    if wrong:
        k = wrong[0]
        raise _fail(weights, f"tensor {k} has shape {found[k]}, architecture needs {expected[k]}")
    model.load_state_dict(state)
    model.eval()
    return ModelBundle(model=model, vocabulary=vocabulary, metadata=meta, path=root, config=config)
