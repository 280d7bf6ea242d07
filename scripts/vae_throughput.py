"""Measure SELFIES VAE throughput on this machine: training, encoding and greedy decoding.

    python scripts/vae_throughput.py [--model BUNDLE] [--config workflows/configs/train_moses.toml]

Training: molecules/s of optimizer steps on real MOSES molecules with the config's
model and settings (fp32 and bf16 side by side). Encoding: molecules/s from SMILES
(RDKit canonicalization + SELFIES + encoder). Decoding: greedy molecules/s from prior
samples including SELFIES decoding and RDKit canonicalization. Prints one table.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def train_rate(config_path: str, bf16: bool, steps: int, threads: int) -> float:
    import torch

    from molspace.model.batches import batch_tensors, epoch_batches, vae_losses
    from molspace.model.config import load_train_config
    from molspace.model.vae import SelfiesVAE
    from molspace.model.vocabulary import build_vocabulary, smiles_to_selfies

    torch.set_num_threads(threads)
    config = load_train_config(config_path)
    smiles = pd.read_csv(config.data.path, nrows=20_000)["SMILES"].tolist()
    encoded = [e.selfies for e in (smiles_to_selfies(s) for s in smiles) if e.ok]
    vocab = build_vocabulary(encoded)
    tokens, _ = vocab.encode_selfies(encoded)
    from molspace.model.data import lengths_of

    lengths = lengths_of(tokens)
    model = SelfiesVAE(config.model, len(vocab), vocab.max_length)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    batches = epoch_batches(lengths, config.optim.batch_size, config.optim.bucket_batches, 0, 0)
    done, start, cpu = 0, 0.0, 0.0
    for i, index in enumerate(batches[: steps + 2]):
        if i == 2:
            done, start, cpu = 0, time.perf_counter(), time.process_time()
        x, lens = batch_tensors(tokens, index, torch.device("cpu"))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = vae_losses(model, x, lens, config.kl.free_bits, gen, None)
        loss = out["recon"] + 0.1 * out["kl_free"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(index)
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu)


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall-clock and process CPU seconds of ``fn()``."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle (default: shipped model)")
    parser.add_argument("--config", default="workflows/configs/train_moses.toml")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    import torch

    from molspace.latent import LatentSpace

    torch.set_num_threads(args.threads)
    rows = []
    for bf16 in (False, True):
        wall, cpu = train_rate(args.config, bf16, args.steps, args.threads)
        rows.append((f"train ({'bf16' if bf16 else 'fp32'}, config model)", wall, cpu))
    space = LatentSpace.load(args.model)
    test = pd.read_csv("libraries/moses/test.csv.gz", nrows=args.n)["SMILES"].tolist()
    z = space.sample_latent(args.n, seed=0)
    for name, fn in (
        ("encode (SMILES -> z, incl. RDKit + SELFIES)", lambda: space.encode(test)),
        ("greedy decode (z -> canonical SMILES)", lambda: space.decode(z)),
        ("sampled decode, T=1.0", lambda: space.decode(z, temperature=1.0, seed=0)),
    ):
        wall, cpu = timed(fn)
        rows.append((name, args.n / wall, args.n / cpu))
    params = space.model.num_parameters()
    print(f"model: {space.bundle.path} ({params:,} parameters), {args.threads} torch thread(s)")
    print("molecules per wall-clock second, and per CPU-second (fair on a shared machine)")
    print(f"{'operation':<46} {'wall/s':>8} {'cpu/s':>8}   baseline (issue 5, 2 cores)")
    baseline = {"train (fp32": 460, "train (bf16": 460, "encode": 3000, "greedy": 2000}
    for name, wall, cpu in rows:
        ref = next((v for k, v in baseline.items() if name.startswith(k)), None)
        note = f"{ref:>6} (wall {wall / ref:.2f}x)" if ref else ""
        print(f"{name:<46} {wall:>8.0f} {cpu:>8.0f}   {note}")


if __name__ == "__main__":
    main()
