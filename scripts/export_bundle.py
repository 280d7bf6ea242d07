"""Export a VAE training run as the shipped default model, with a generated model card.

    python scripts/export_bundle.py runs/moses_vae                 # best-so-far -> default model
    python scripts/export_bundle.py runs/moses_vae --which checkpoint --samples 0
    python scripts/export_bundle.py RUN --dest path/to/bundle      # anywhere else

Safe while the run is training (it reads atomically written files only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from molspace.errors import MolspaceError
from molspace.latent.export import export_run
from molspace.model.bundle import DEFAULT_BUNDLE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--dest", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--which", choices=("best", "checkpoint", "final"), default="best")
    parser.add_argument(
        "--samples", type=int, default=2000, help="prior samples (0: no evaluation)"
    )
    parser.add_argument(
        "--reconstruct", type=int, default=1000, help="test molecules to reconstruct"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the evaluation")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    try:
        target = export_run(
            args.run_dir,
            args.dest,
            which=args.which,
            n_samples=args.samples,
            n_reconstruct=args.reconstruct,
        )
    except MolspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.run_dir} ({args.which}) to {target}")
    print((target / "MODEL_CARD.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
