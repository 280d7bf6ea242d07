"""Stage 8, the latent space: what a user does with a trained model.

``LatentSpace`` loads a model bundle and encodes, decodes, samples and scores molecules
in the VAE's latent space; ``evaluation`` measures a bundle (reconstruction, prior
samples) and ``export`` installs a training run's best model as a bundle with its model
card. May import: ``chem``, ``io``, ``metrics``, ``model`` and the base modules
(``errors``, ``config``, ``versions``); never ``analysis`` or anything above it.
"""

from molspace.latent.space import DecodedBatch, EncodedTable, LatentSpace, Likelihood

__all__ = ["DecodedBatch", "EncodedTable", "LatentSpace", "Likelihood"]
