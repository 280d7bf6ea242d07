"""Fail set-up if a CUDA build of torch (or any nvidia-* package) slipped into the environment."""

from __future__ import annotations

import sys
from importlib import metadata


def main() -> int:
    cuda_packages = sorted(
        dist.metadata["Name"]
        for dist in metadata.distributions()
        if (dist.metadata["Name"] or "").lower().startswith("nvidia-")
    )
    torch_version = metadata.version("torch")
    if cuda_packages or not torch_version.startswith("2.13.0"):
        print(
            f"error: expected the CPU torch 2.13.0 with no nvidia-* packages; found torch "
            f"{torch_version} and {', '.join(cuda_packages) or 'no nvidia packages'}. "
            "Set PIP_CONSTRAINT=constraints.txt and reinstall.",
            file=sys.stderr,
        )
        return 1
    print(f"torch {torch_version} (CPU build), no nvidia-* packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
