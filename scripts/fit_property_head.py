"""Fit a property head (QED, SA, cLogP) onto a trained bundle that has none, on CPU.

The GPU run (training/GPU.md) trains the VAE without a property head: its minutes go to
the model. ``explore`` directions and ``LatentSpace.property_gradient`` need a head, so
this script fits one afterwards on the frozen encoder's posterior means: the same labelled
rows the CPU run's head was trained on (a seeded 200,000 of MOSES train plus the
validation rows, RDKit values cached in ``runs/cache``), the same head shape
(latent -> ``hidden`` -> 3, standardized targets; 256 wide by default where the CPU
run's jointly trained head is 64: a frozen latent needs the wider head), Adam on the mean
squared error. Every other tensor of the bundle is copied unchanged; the head's
validation R^2 per property is printed and recorded in the bundle's ``training.property_head``.

    python scripts/fit_property_head.py runs/gpu_vae/best_nohead runs/gpu_vae/best
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molspace.latent.space import LatentSpace
from molspace.model.bundle import load_bundle, save_bundle
from molspace.model.config import TrainConfig
from molspace.model.train_data import load_training_data
from molspace.model.vae import SelfiesVAE
from molspace.model.validation import split_indices

PROPERTIES = ("qed", "sa", "clogp")


def _r2(pred: np.ndarray, target: np.ndarray) -> list[float]:
    resid = ((pred - target) ** 2).sum(0)
    total = ((target - target.mean(0)) ** 2).sum(0)
    return [float(v) for v in 1.0 - resid / total]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="bundle without a property head")
    parser.add_argument("out", help="where the bundle with the head is written")
    parser.add_argument(
        "--config",
        default="workflows/configs/train_moses.toml",
        help="the recipe whose data, split and labelled rows are used",
    )
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()

    bundle = load_bundle(args.bundle)
    if bundle.model.config.properties:
        print(f"{args.bundle}: already has a property head", file=sys.stderr)
        return 1
    from molspace.config import load_toml

    config = load_toml(args.config, TrainConfig, "train")
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"properties": PROPERTIES})}
    )
    data, props = load_training_data(config, Path("runs/_head"), False, print, False)
    if data.vocabulary.to_dict() != bundle.vocabulary.to_dict():
        print("the recipe's vocabulary differs from the bundle's", file=sys.stderr)
        return 1
    assert props is not None
    train_idx, val_idx = split_indices(len(data.tokens), config)
    val_idx = val_idx[: config.data.max_validation]
    train_idx = train_idx[~np.isnan(props[train_idx]).any(1)]
    val_idx = val_idx[~np.isnan(props[val_idx]).any(1)]
    print(f"encoding {len(train_idx):,} + {len(val_idx):,} labelled molecules", flush=True)
    sha = bundle.metadata["weights"]["sha256"][:16]
    cached = Path(config.data.cache_dir) / f"head-z-{sha}-{len(train_idx)}-{len(val_idx)}.npz"
    if cached.is_file():  # the posterior means of this bundle's weights, from an earlier fit
        with np.load(cached) as saved:
            z_train, z_val = saved["train"], saved["val"]
    else:
        space = LatentSpace(bundle)
        z_train = space.encode_tokens(data.tokens[train_idx])
        z_val = space.encode_tokens(data.tokens[val_idx])
        np.savez(cached, train=z_train, val=z_val)
    y_train, y_val = props[train_idx], props[val_idx]
    mean, std = y_train.mean(0), y_train.std(0) + 1e-6

    cfg = bundle.model.config.model_copy(
        update={"properties": PROPERTIES, "property_hidden": args.hidden}
    )
    model = SelfiesVAE(cfg, vocab_size=bundle.model.vocab_size, max_length=bundle.model.max_length)
    state = {k: v for k, v in bundle.model.state_dict().items() if not k.startswith("property_")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("property_") for k in missing), (missing, unexpected)
    model.property_mean.copy_(torch.from_numpy(mean))  # type: ignore[operator]
    model.property_std.copy_(torch.from_numpy(std))  # type: ignore[operator]
    head = model.property_head
    assert head is not None
    xt, yt = torch.from_numpy(z_train), torch.from_numpy((y_train - mean) / std)
    xv = torch.from_numpy(z_val)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for s in range(0, len(order), 1024):
            i = order[s : s + 1024]
            loss = torch.nn.functional.mse_loss(head(xt[i]), yt[i])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            with torch.no_grad():
                pred = model.predict_properties(xv).numpy()
            r2 = dict(zip(PROPERTIES, _r2(pred, y_val), strict=True))
            print(
                f"epoch {epoch + 1}: validation R^2 "
                + ", ".join(f"{k} {v:.3f}" for k, v in r2.items()),
                flush=True,
            )
    meta: dict[str, Any] = json.loads((Path(args.bundle) / "model.json").read_text())
    training = dict(meta.get("training", {}))
    training["property_head"] = {
        "fitted": "after training, on the frozen encoder's posterior means "
        "(scripts/fit_property_head.py)",
        "properties": PROPERTIES,
        "n_train": len(train_idx),
        "n_validation": len(val_idx),
        "epochs": args.epochs,
        "seed": args.seed,
        "validation_r2": r2,
    }
    save_bundle(args.out, model, bundle.vocabulary, training)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
