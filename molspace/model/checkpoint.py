"""Resumable training checkpoints without pickle.

Tensors (model weights, Adam moments, the noise generator's state) go to
``state.safetensors``; counters, config, vocabulary and history go to
``state.json``. Both are written into a temporary folder that replaces the old
checkpoint in one rename, so a kill mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from molspace.errors import BundleError

__all__ = ["CHECKPOINT_DIR", "checkpoint_exists", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_DIR = "checkpoint"
TENSORS = "state.safetensors"
STATE = "state.json"
CHECKPOINT_VERSION = 1


def checkpoint_exists(run_dir: str | Path) -> bool:
    folder = Path(run_dir) / CHECKPOINT_DIR
    return (folder / TENSORS).is_file() and (folder / STATE).is_file()


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, slots in state_dict["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain": plain}


def save_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    state: dict[str, Any],
) -> Path:
    """Write the checkpoint of a run atomically; ``state`` must be JSON-serializable."""
    from safetensors.torch import save_file

    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.", dir=root))
    try:
        tensors = {
            f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
        }
        optim_tensors, optim_json = _optimizer_tensors(optimizer)
        tensors.update(optim_tensors)
        tensors["rng.torch"] = generator.get_state()
        save_file(tensors, str(tmp / TENSORS))
        payload = {"checkpoint_version": CHECKPOINT_VERSION, "optimizer": optim_json, **state}
        (tmp / STATE).write_text(json.dumps(payload, indent=1))
        for written in (tmp, tmp / TENSORS, tmp / STATE):
            os.chmod(written, 0o755 if written.is_dir() else 0o644)
        target = root / CHECKPOINT_DIR
        if target.exists():
            old = root / f".checkpoint.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root / CHECKPOINT_DIR


def read_checkpoint_state(run_dir: str | Path) -> dict[str, Any]:
    """The JSON half of a checkpoint (config, counters, history)."""
    path = Path(run_dir) / CHECKPOINT_DIR / STATE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path.parent}: no checkpoint to resume") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: invalid checkpoint ({exc})") from None


def load_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    *,
    fresh: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Restore model, optimizer and generator in place; return the JSON state.

    Everything must match strictly, except model tensors whose names start with a
    prefix in ``fresh`` and that the checkpoint lacks (or holds with another shape):
    those keep their fresh initialisation (a property head added on resume). Their
    parameters must come last in ``model.parameters()``; the optimizer starts their
    moments from zero.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state = read_checkpoint_state(run_dir)
    path = Path(run_dir) / CHECKPOINT_DIR / TENSORS
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path}: unreadable checkpoint ({exc})") from None
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    current = model.state_dict()
    added = (
        [
            k
            for k, v in current.items()
            if k.startswith(fresh) and (k not in model_state or model_state[k].shape != v.shape)
        ]
        if fresh
        else []
    )
    for key in added:
        model_state[key] = current[key]
    try:
        model.load_state_dict(model_state)
    except RuntimeError as exc:
        raise BundleError(
            f"{path}: checkpoint does not match the model ({str(exc)[:200]})"
        ) from None
    optim_json = state["optimizer"]
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    for index, extra in optim_json.get("plain", {}).items():
        slots.setdefault(int(index), {}).update(extra)
    groups = optim_json["param_groups"]
    names = [name for name, _ in model.named_parameters()]
    new_params = [i for i, name in enumerate(names) if name in added]
    if new_params:
        n_old = len(names) - len(new_params)
        if new_params != list(range(n_old, len(names))) or len(groups) != 1:
            raise BundleError(f"{path}: new parameters must come last in a single group")
        if len(groups[0]["params"]) != n_old:
            raise BundleError(f"{path}: checkpoint optimizer does not match the model")
        groups = [{**groups[0], "params": list(range(len(names)))}]
    try:
        optimizer.load_state_dict({"state": slots, "param_groups": groups})
    except ValueError as exc:
        raise BundleError(f"{path}: checkpoint optimizer does not match ({exc})") from None
    generator.set_state(tensors["rng.torch"])
    return state
