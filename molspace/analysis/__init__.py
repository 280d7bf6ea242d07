"""Operations built on ``LatentSpace``: interpolate, explore, map/cluster, anomaly, encode.

Each submodule is a set of pure functions over molecules and latent arrays;
the CLI (``molspace.cli.analysis_cmds``) and workflow steps are thin layers on top.
Submodules are imported on use so ``import molspace.analysis`` stays cheap.

Stage 9. May import: ``latent``, ``model``, ``metrics``, ``chem``, ``io`` and the base
modules; never ``optimization`` or anything above it.
"""
