"""Stage 7, the model: the SELFIES vocabulary, the VAE, its training (resumable, SIGTERM
safe) and the safe model bundle (safetensors weights + a JSON manifest, never a pickle).

``vocabulary`` (SELFIES alphabet and tokenization), ``vae`` (the network), ``config`` and
``data`` (training settings and the token cache), ``train`` and ``checkpoint`` (training
with resume), ``bundle`` (save/load/validate), ``properties`` (the property head's
targets). May import: ``chem``, ``io`` and the base modules; never ``latent`` or
anything above it (operations on a trained model live in ``molspace.latent``).
"""
