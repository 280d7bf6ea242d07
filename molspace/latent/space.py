"""``LatentSpace``: the user-facing operations on a trained SELFIES VAE.

Encode molecules to latent vectors (posterior means), decode latent vectors to
canonical SMILES (greedy = deterministic, or temperature sampling with a seed),
and sample the prior. Every decoded string goes SELFIES -> SMILES -> RDKit ->
canonical SMILES, so the same molecule always has the same text and the output
can be compared, cached and deduplicated.

Failure behaviour: ``encode`` is for molecules a user names and raises
``InvalidMoleculeError`` (unparseable) or ``VocabularyError`` (not expressible in
the model's alphabet/length) naming the molecule; ``encode_table`` is for
libraries and never raises for a bad row: the row goes to ``rejects`` with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molspace.chem.parse import REASONS as PARSE_REASONS
from molspace.chem.parse import reason_category
from molspace.errors import InvalidMoleculeError, VocabularyError

__all__ = ["DecodedBatch", "EncodedTable", "LatentSpace", "Likelihood"]


@dataclass
class EncodedTable:
    """``records``: the encodable rows (input columns + ``canonical_smiles``), ``latent``:
    their posterior means in the same order (n, d), ``rejects``: source,row,id,input,reason."""

    records: pd.DataFrame
    latent: np.ndarray
    rejects: pd.DataFrame


@dataclass
class DecodedBatch:
    """Decoded molecules with the diagnostics a user needs to trust them."""

    smiles: list[str]
    selfies: list[str]
    heavy_atoms: np.ndarray
    valid: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "smiles": self.smiles,
                "selfies": self.selfies,
                "heavy_atoms": self.heavy_atoms,
                "valid": self.valid,
            }
        )


@dataclass
class Likelihood:
    """How well the model explains each molecule; NaN (and a reason) where it cannot encode it.

    ``nll`` is -log p(x | z = mu(x)): the teacher-forced negative log-likelihood (nats) of
    the molecule's canonical SELFIES tokens, ``<end>`` included, decoded from its own
    posterior mean. ``kl`` is KL(q(z|x) || N(0, I)). ``nelbo`` = nll + kl is the negative
    evidence lower bound with the reconstruction term taken at z = mu (deterministic)
    instead of its expectation over q: an upper bound on -log p(x) up to that choice.
    """

    mu: np.ndarray  # (n, d) posterior means
    nll: np.ndarray  # (n,)
    n_tokens: np.ndarray  # (n,) tokens scored (symbols + <end>); 0 where not encodable
    kl: np.ndarray  # (n,)
    reasons: list[str | None]

    @property
    def ok(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)

    @property
    def nll_per_token(self) -> np.ndarray:
        """Mean NLL per token: comparable across molecules of different sizes."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_tokens > 0, self.nll / self.n_tokens, np.nan)

    @property
    def nelbo(self) -> np.ndarray:
        return self.nll + self.kl


class LatentSpace:
    """A loaded VAE bundle with encode/decode/sample operations (CPU unless ``device`` says)."""

    def __init__(self, bundle: Any, device: str = "cpu") -> None:
        import torch

        self.bundle = bundle
        self.vocabulary = bundle.vocabulary
        self.device = torch.device(device)
        self.model = bundle.model.to(self.device).eval()
        self._start_mask = torch.from_numpy(self.vocabulary.start_mask())

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "cpu") -> LatentSpace:
        """Load a bundle (None = the shipped MOSES model); ``BundleError`` when it is unusable."""
        from molspace.model.bundle import load_bundle

        return cls(load_bundle(path), device=device)

    # -- properties --------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.bundle.latent_dim

    @property
    def property_names(self) -> tuple[str, ...]:
        return self.bundle.property_names

    @property
    def metadata(self) -> dict[str, Any]:
        return self.bundle.metadata

    # -- encoding ----------------------------------------------------------------
    def canonicalize(self, smiles: str) -> str:
        """The canonical SMILES the model works with (stereo removed unless the model has it)."""
        from molspace.model.vocabulary import canonicalize_for_vocab

        canonical, reason = canonicalize_for_vocab(smiles, stereo=self.vocabulary.stereo)
        if canonical is None:
            raise InvalidMoleculeError(f"{smiles}: {reason}")
        return canonical

    def _posterior_tokens(
        self, tokens: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from molspace.model.data import lengths_of

        mean = np.zeros((len(tokens), self.latent_dim), dtype=np.float32)
        sd = np.ones_like(mean)
        if len(tokens) == 0:
            return mean, sd
        lengths = lengths_of(tokens)
        order = np.argsort(lengths, kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                width = int(lengths[index].max())
                batch = torch.from_numpy(tokens[index, :width].astype(np.int64)).to(self.device)
                mu, logvar = self.model.encode(batch, torch.from_numpy(lengths[index]))
                mean[index] = mu.float().cpu().numpy()
                sd[index] = (0.5 * logvar.float()).exp().cpu().numpy()
        return mean, sd

    def encode_tokens(self, tokens: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Posterior means (n, d) of rows already tokenized with this model's vocabulary
        (a training set's token cache), without going back through SMILES."""
        return self._posterior_tokens(tokens, batch_size)[0]

    def _user_tokens(self, smiles: Sequence[str]) -> np.ndarray:
        """Tokens of molecules a user names; raises on the first unusable one."""
        if isinstance(smiles, str):
            smiles = [smiles]
        tokens, _, reasons = self.vocabulary.encode_smiles(list(smiles))
        for text, reason in zip(smiles, reasons, strict=True):
            if reason is not None:
                if reason_category(reason) in PARSE_REASONS:  # not a molecule at all
                    raise InvalidMoleculeError(f"{text}: {reason}")
                raise VocabularyError(f"{text}: cannot be encoded by this model: {reason}")
        return tokens

    def encode(self, smiles: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """Posterior means (n, d) of molecules a user names; raises on the first unusable one."""
        return self.encode_tokens(self._user_tokens(smiles), batch_size)

    def encode_posterior(
        self, smiles: Sequence[str], batch_size: int = 512
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and standard deviations, each (n, d), of molecules a user names:
        the region the encoder assigns to each molecule, not only its centre."""
        return self._posterior_tokens(self._user_tokens(smiles), batch_size)

    def encode_table(
        self, table: pd.DataFrame, *, smiles_column: str = "smiles", batch_size: int = 512
    ) -> EncodedTable:
        """Encode a library table; unusable rows go to ``rejects`` with a reason (counts add up)."""
        if smiles_column not in table.columns:
            raise VocabularyError(f"table has no '{smiles_column}' column")
        frame = table.reset_index(drop=True)
        n = len(frame)
        source = frame["source"] if "source" in frame else pd.Series([""] * n)
        row = frame["row"] if "row" in frame else pd.Series(np.arange(1, n + 1, dtype=np.int64))
        ids = frame["id"] if "id" in frame else row.astype(str)
        texts = frame[smiles_column].fillna("").astype(str).tolist()
        tokens, canonical, reasons = self.vocabulary.encode_smiles(texts)
        ok = np.array([r is None for r in reasons], dtype=bool)
        records = frame.loc[ok].copy()
        records["canonical_smiles"] = [c for c, good in zip(canonical, ok, strict=True) if good]
        rejects = pd.DataFrame(
            {
                "source": source.to_numpy()[~ok].astype(str),
                "row": row.to_numpy()[~ok].astype(np.int64),
                "id": ids.to_numpy()[~ok].astype(str),
                "input": np.asarray(texts, dtype=object)[~ok],
                "reason": [r for r in reasons if r is not None],
            }
        )
        latent = self.encode_tokens(tokens[ok], batch_size)
        return EncodedTable(records=records.reset_index(drop=True), latent=latent, rejects=rejects)

    # -- likelihood --------------------------------------------------------------
    def _likelihood_tokens(
        self, tokens: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior means, teacher-forced NLL at z = mu and KL of encoded token rows."""
        import torch

        from molspace.model.data import lengths_of
        from molspace.model.vae import kl_per_row

        n = len(tokens)
        mu_out = np.zeros((n, self.latent_dim), dtype=np.float32)
        nll = np.zeros(n, dtype=np.float64)
        kl = np.zeros(n, dtype=np.float64)
        if n == 0:
            return mu_out, nll, kl
        lengths = lengths_of(tokens)
        order = np.argsort(lengths, kind="stable")
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                index = order[start : start + batch_size]
                width = int(lengths[index].max())
                batch = torch.from_numpy(tokens[index, :width].astype(np.int64)).to(self.device)
                mu, logvar = self.model.encode(batch, torch.from_numpy(lengths[index]))
                mu, logvar = mu.float(), logvar.float()
                log_probs = self.model.token_log_probs(mu, batch, self._start_mask)
                mu_out[index] = mu.cpu().numpy()
                nll[index] = -log_probs.double().sum(-1).cpu().numpy()
                kl[index] = kl_per_row(mu, logvar).double().cpu().numpy()
        return mu_out, nll, kl

    def likelihood(self, smiles: Sequence[str], batch_size: int = 256) -> Likelihood:
        """NLL, KL and posterior mean of every molecule of a library; never raises for a row.

        Rows the model cannot encode (unparseable, unknown symbols, too long) get NaN
        and their reason, so a caller keeps every input row.
        """
        from molspace.model.data import lengths_of

        texts = [s if isinstance(s, str) else "" for s in smiles]
        tokens, _, reasons = self.vocabulary.encode_smiles(texts)
        ok = np.array([r is None for r in reasons], dtype=bool)
        n = len(texts)
        mu = np.full((n, self.latent_dim), np.nan, dtype=np.float64)
        nll = np.full(n, np.nan)
        kl = np.full(n, np.nan)
        n_tokens = np.zeros(n, dtype=np.int64)
        if ok.any():
            mu[ok], nll[ok], kl[ok] = self._likelihood_tokens(tokens[ok], batch_size)
            n_tokens[ok] = lengths_of(tokens[ok])
        return Likelihood(mu=mu, nll=nll, n_tokens=n_tokens, kl=kl, reasons=list(reasons))

    def reconstruction_nll(
        self, smiles: Sequence[str], batch_size: int = 256, *, per_token: bool = False
    ) -> np.ndarray:
        """-log p(x | z = mu(x)) of molecules a user names (nats; per token if ``per_token``).

        Teacher-forced, so it needs no greedy decode and is finer than exact-match
        reconstruction: a molecule the decoder would almost rebuild scores low even
        when one token differs. Float32 inference, deterministic. Raises like ``encode``.
        """
        if isinstance(smiles, str):
            smiles = [smiles]
        result = self.likelihood(smiles, batch_size=batch_size)
        for text, reason in zip(smiles, result.reasons, strict=True):
            if reason is not None:
                if reason_category(reason) in PARSE_REASONS:
                    raise InvalidMoleculeError(f"{text}: {reason}")
                raise VocabularyError(f"{text}: cannot be encoded by this model: {reason}")
        return result.nll_per_token if per_token else result.nll

    # -- decoding ----------------------------------------------------------------
    def decode_details(
        self,
        z: np.ndarray,
        temperature: float = 0.0,
        seed: int | None = None,
        batch_size: int = 1024,
    ) -> DecodedBatch:
        """Decode latent vectors (n, d): canonical SMILES, SELFIES, heavy-atom counts, validity."""
        import selfies as sf
        import torch
        from rdkit import Chem

        from molspace.chem.rdlog import capture_rdkit_log

        z = np.array(z, dtype=np.float32, copy=True)
        if z.ndim == 1:
            z = z[None, :]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise VocabularyError(
                f"latent vectors must have shape (n, {self.latent_dim}), got {z.shape}"
            )
        if not np.all(np.isfinite(z)):
            raise VocabularyError("latent vectors contain NaN or infinity")
        if temperature < 0:
            raise VocabularyError(f"temperature must be >= 0, got {temperature}")
        generator = None
        if temperature > 0:
            generator = torch.Generator()
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(seed))
        smiles: list[str] = []
        selfies_out: list[str] = []
        heavy = np.zeros(len(z), dtype=np.int64)
        valid = np.zeros(len(z), dtype=bool)
        # RDKit's log is captured in this thread only (a global toggle would race with
        # other threads' parse-error reasons); an unparseable decode is marked invalid.
        with capture_rdkit_log(), torch.inference_mode():
            for start in range(0, len(z), batch_size):
                zz = torch.from_numpy(z[start : start + batch_size]).to(self.device)
                rows = (
                    self.model.generate(
                        zz, self._start_mask, temperature=temperature, generator=generator
                    )
                    .cpu()
                    .numpy()
                )
                for offset, tokens in enumerate(rows):
                    text = self.vocabulary.tokens_to_selfies(tokens)
                    raw = sf.decoder(text) or ""
                    mol = Chem.MolFromSmiles(raw) if raw else None
                    i = start + offset
                    selfies_out.append(text)
                    if mol is None or mol.GetNumAtoms() == 0:
                        smiles.append(raw)
                        continue
                    smiles.append(Chem.MolToSmiles(mol))
                    heavy[i] = mol.GetNumHeavyAtoms()
                    valid[i] = True
        return DecodedBatch(smiles=smiles, selfies=selfies_out, heavy_atoms=heavy, valid=valid)

    def decode(self, z: np.ndarray, temperature: float = 0.0, seed: int | None = None) -> list[str]:
        """Canonical SMILES of latent vectors (n, d); greedy (deterministic) at temperature 0."""
        return self.decode_details(z, temperature=temperature, seed=seed).smiles

    def sample_latent(self, n: int, seed: int) -> np.ndarray:
        """``n`` draws from the prior N(0, I), reproducible from ``seed``."""
        if n < 0:
            raise VocabularyError(f"n must be >= 0, got {n}")
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def sample(self, n: int, seed: int, temperature: float = 0.0) -> list[str]:
        """``n`` molecules decoded from prior samples (seeded; greedy unless temperature > 0)."""
        return self.decode(self.sample_latent(n, seed), temperature=temperature, seed=seed)

    def reconstruct(self, smiles: Sequence[str], batch_size: int = 512) -> list[str]:
        """Greedy decode of each molecule's posterior mean (what the model remembers of it)."""
        return self.decode(self.encode(smiles, batch_size=batch_size))

    def predict_properties(self, z: np.ndarray) -> pd.DataFrame:
        """Property-head predictions (original units) for latent vectors (n, d) or (d,).

        A cheap surrogate (no decoding, no RDKit) that explore directions and optimizers
        can call on any latent point; raises ``VocabularyError`` when the model has no head.
        """
        import torch

        points = self._head_points(z)
        with torch.inference_mode():
            values = self.model.predict_properties(torch.from_numpy(points).to(self.device))
        return pd.DataFrame(values.float().cpu().numpy(), columns=list(self.property_names))

    def property_gradient(self, z: np.ndarray, name: str) -> np.ndarray:
        """d(predicted ``name``)/dz at each latent vector (n, d), original units per unit of z.

        Exact (autograd through the head), so a direction is the gradient itself and
        a gradient step in an optimizer needs no finite differences.
        """
        import torch

        if name not in self.property_names:
            heads = ", ".join(self.property_names) or "nothing"
            raise VocabularyError(
                f"the model has no property head for {name!r} (it predicts: {heads})"
            )
        points = torch.from_numpy(self._head_points(z)).to(self.device).requires_grad_(True)
        with torch.enable_grad():
            values = self.model.predict_properties(points)[:, self.property_names.index(name)]
            (grad,) = torch.autograd.grad(values.sum(), points)
        return grad.float().cpu().numpy()

    def _head_points(self, z: np.ndarray) -> np.ndarray:
        if not self.property_names:
            raise VocabularyError("this model has no property head")
        points = np.array(z, dtype=np.float32, copy=True)
        if points.ndim == 1:
            points = points[None, :]
        if points.ndim != 2 or points.shape[1] != self.latent_dim:
            raise VocabularyError(
                f"latent vectors must have shape (n, {self.latent_dim}), got {points.shape}"
            )
        if not np.all(np.isfinite(points)):
            raise VocabularyError("latent vectors contain NaN or infinity")
        return points
