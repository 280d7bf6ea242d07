"""The SELFIES VAE: bidirectional GRU encoder -> Gaussian posterior -> decoder conditioned on z.

The GRU decoder gets z twice: as its initial hidden state (through a linear map) and
concatenated to every input embedding, so it cannot learn to ignore the latent
(one of the remedies for posterior collapse, with KL annealing and free bits).
The Transformer decoder (``config.decoder = "transformer"``,
``molspace.model.transformer_decoder``) gets a projection of z added to every input.
Generation masks the padding/start tokens and allows only atom symbols first, so
every generated SELFIES string decodes to a non-empty molecule.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from molspace.model.config import ModelConfig
from molspace.model.transformer_decoder import TransformerDecoder, keep_rows
from molspace.model.vocabulary import BOS, EOS, PAD

__all__ = ["SelfiesVAE", "VAEOutput", "kl_per_dim", "kl_per_row"]


class VAEOutput(dict):
    """logits (B,T,V), mu, logvar, z (B,D), optional properties (B,P) predicted from mu."""


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch (D,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(0)


def kl_per_row(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) of each row, summed over latent dimensions (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


class SelfiesVAE(nn.Module):
    def __init__(self, config: ModelConfig, vocab_size: int, max_length: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.max_length = max_length
        c = config
        self.embedding = nn.Embedding(vocab_size, c.embedding_dim, padding_idx=PAD)
        self.encoder_rnn = nn.GRU(
            c.embedding_dim,
            c.encoder_hidden,
            num_layers=c.encoder_layers,
            batch_first=True,
            bidirectional=c.encoder_bidirectional,
            dropout=c.dropout if c.encoder_layers > 1 else 0.0,
        )
        enc_out = c.encoder_hidden * (2 if c.encoder_bidirectional else 1)
        self.to_mu = nn.Linear(enc_out, c.latent_dim)
        self.to_logvar = nn.Linear(enc_out, c.latent_dim)
        self.transformer: TransformerDecoder | None = None
        if c.decoder == "transformer":
            self.transformer = TransformerDecoder(
                embedding_dim=c.embedding_dim,
                latent_dim=c.latent_dim,
                d_model=c.decoder_hidden,
                layers=c.decoder_layers,
                heads=c.decoder_heads,
                ff=c.decoder_ff,
                dropout=c.dropout,
                vocab_size=vocab_size,
                positions=max_length + 1,
            )
        else:  # the GRU: names and order of these tensors are those of every existing bundle
            self.z_to_hidden = nn.Linear(c.latent_dim, c.decoder_hidden * c.decoder_layers)
            self.decoder_rnn = nn.GRU(
                c.embedding_dim + c.latent_dim,
                c.decoder_hidden,
                num_layers=c.decoder_layers,
                batch_first=True,
                dropout=c.dropout if c.decoder_layers > 1 else 0.0,
            )
            self.output = nn.Linear(c.decoder_hidden, vocab_size)
        if c.properties:
            self.property_head: nn.Module | None = nn.Sequential(
                nn.Linear(c.latent_dim, c.property_hidden),
                nn.ReLU(),
                nn.Linear(c.property_hidden, len(c.properties)),
            )
        else:
            self.property_head = None
        # standardization of the property targets (set from training data, saved with the weights)
        self.register_buffer("property_mean", torch.zeros(len(c.properties)))
        self.register_buffer("property_std", torch.ones(len(c.properties)))

    # -- encoder ---------------------------------------------------------------
    def encode(
        self, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of token rows (B,T) with lengths incl. ``<end>``.

        Two implementations of one function: ``encode_padded`` when gradients are
        recorded (training), ``encode_packed`` otherwise (inference, where packing has
        no backward to pay for and skips the padding).
        """
        if torch.is_grad_enabled():
            return self.encode_padded(tokens, lengths)
        return self.encode_packed(tokens, lengths)

    def encode_padded(
        self, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``encode`` for training: each direction of the encoder GRU runs over the padded
        batch (the reverse one on every row reversed within its length) and the state at
        each row's last symbol is read. The same result as ``encode_packed`` without packed
        sequences, whose CPU backward zero-fills the whole packed gradient at every time
        step (quadratic in the length): a training step costs ~1.3x less CPU this way
        (``scripts/vae_throughput.py``).
        """
        c = self.config
        rnn = self.encoder_rnn
        batch, width = tokens.shape
        lens = lengths.to(tokens.device)
        rows = torch.arange(batch, device=tokens.device)
        last = (lens - 1).clamp(min=0)
        pos = torch.arange(width, device=tokens.device).expand(batch, width)
        # position t of a row <-> position len-1-t; padding stays in place (an involution)
        flip = torch.where(pos < lens[:, None], lens[:, None] - 1 - pos, pos)
        x = self.embedding(tokens)
        finals: list[torch.Tensor] = []
        for layer in range(c.encoder_layers):
            outs = []
            finals = []
            for suffix in ("", "_reverse") if c.encoder_bidirectional else ("",):
                weights = [
                    getattr(rnn, f"{name}_l{layer}{suffix}")
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                ]
                index = flip[..., None].expand(-1, -1, x.shape[-1])
                inputs = x.gather(1, index) if suffix else x
                h0 = torch.zeros(1, batch, c.encoder_hidden, dtype=inputs.dtype, device=x.device)
                out, _ = torch._VF.gru(
                    inputs, h0, weights, True, 1, 0.0, self.training, False, True
                )
                finals.append(out[rows, last])
                if suffix:
                    out = out.gather(1, flip[..., None].expand(-1, -1, out.shape[-1]))
                outs.append(out)
            x = torch.cat(outs, dim=-1)
            if c.dropout > 0 and layer < c.encoder_layers - 1:
                x = F.dropout(x, c.dropout, self.training)
        h = torch.cat(finals, dim=-1)
        return self.to_mu(h), self.to_logvar(h).clamp(-20.0, 10.0)

    def encode_packed(
        self, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``encode`` through ``pack_padded_sequence``: used for inference, the reference
        ``encode_padded`` is tested against, and the old training recipe
        ``scripts/vae_throughput.py`` times."""
        emb = self.embedding(tokens)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.encoder_rnn(packed)
        dirs = 2 if self.config.encoder_bidirectional else 1
        last = hidden[-dirs:]  # top layer, both directions
        h = last.transpose(0, 1).reshape(tokens.shape[0], -1)
        return self.to_mu(h), self.to_logvar(h).clamp(-20.0, 10.0)

    # -- decoder ---------------------------------------------------------------
    def initial_hidden(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        h = torch.tanh(self.z_to_hidden(z))
        return h.view(z.shape[0], c.decoder_layers, c.decoder_hidden).transpose(0, 1).contiguous()

    def decode_logits(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B,T,V) for decoder inputs ``<start> s_1 ... s_{T-1}``."""
        emb = self.embedding(inputs)
        if self.transformer is not None:
            return self.transformer(emb, z)[0]
        zz = z.unsqueeze(1).expand(-1, inputs.shape[1], -1)
        out, _ = self.decoder_rnn(torch.cat([emb, zz], dim=-1), self.initial_hidden(z))
        return self.output(out)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        *,
        sample: bool = True,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> VAEOutput:
        """``noise`` (shape of ``mu``) replaces the draw from ``generator``: a data-parallel
        rank passes its rows of the noise one process would draw for the whole batch."""
        mu, logvar = self.encode(tokens, lengths)
        if sample:
            eps = (
                torch.randn(mu.shape, generator=generator, device="cpu") if noise is None else noise
            ).to(mu.device)
            z = mu + eps * torch.exp(0.5 * logvar)
        else:
            z = mu
        inputs = torch.full_like(tokens, PAD)
        inputs[:, 0] = BOS
        inputs[:, 1:] = tokens[:, :-1]
        inputs = inputs.masked_fill(inputs == EOS, PAD)
        out = VAEOutput(logits=self.decode_logits(z, inputs), mu=mu, logvar=logvar, z=z)
        if self.property_head is not None:
            # from the posterior mean: the point encode() returns and explore/optimize move
            out["properties"] = self.property_head(mu)
        return out

    def predict_properties(self, z: torch.Tensor) -> torch.Tensor:
        """Property predictions in original units (B,P); needs a property head."""
        if self.property_head is None:
            raise ValueError("this model has no property head")
        return self.property_head(z) * self.property_std + self.property_mean

    # -- generation ------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        start_mask: torch.Tensor,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Token rows (B, max_length+1) decoded from z; greedy when temperature == 0.

        Only rows still running are computed at each step, and decoding stops as
        soon as every row has emitted ``<end>``.
        """
        batch = z.shape[0]
        device = z.device
        out = torch.full((batch, self.max_length + 1), PAD, dtype=torch.long, device=device)
        state = self._decode_start(z)
        active = torch.arange(batch, device=device)
        z_act = z
        token = torch.full((batch,), BOS, dtype=torch.long, device=device)
        forbid = torch.zeros(self.vocab_size, dtype=torch.bool, device=device)
        forbid[PAD] = True
        forbid[BOS] = True
        first_forbid = ~start_mask.to(device)
        for step in range(self.max_length + 1):
            logits, state = self._decode_step(token, z_act, state, step)
            mask = first_forbid if step == 0 else forbid
            logits = logits.masked_fill(mask, float("-inf"))
            if step == self.max_length:
                token = torch.full_like(token, EOS)
            elif temperature <= 0.0:
                token = logits.argmax(dim=-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device)
            out[active, step] = token
            running = token != EOS
            if not bool(running.any()):
                break
            if not bool(running.all()):
                active = active[running]
                token = token[running]
                z_act = z_act[running]
                state = self._keep_rows(state, running)
        return out

    # one generation step of either decoder: its state is the GRU's hidden state or the
    # Transformer's key/value cache, so ``generate`` shares masks, sampling and early stop
    def _decode_start(self, z: torch.Tensor) -> Any:
        return None if self.transformer is not None else self.initial_hidden(z)

    def _decode_step(
        self, token: torch.Tensor, z: torch.Tensor, state: Any, step: int
    ) -> tuple[torch.Tensor, Any]:
        """Logits (B,V) in float32 of the next symbol after ``token`` (B,), and the new state."""
        emb = self.embedding(token).unsqueeze(1)
        if self.transformer is not None:
            logits, cache = self.transformer(emb, z, start=step, cache=state)
            return logits[:, 0].float(), cache
        o, h = self.decoder_rnn(torch.cat([emb, z.unsqueeze(1)], dim=-1), state)
        return self.output(o[:, 0]).float(), h

    def _keep_rows(self, state: Any, rows: torch.Tensor) -> Any:
        if self.transformer is not None:
            return keep_rows(state, rows)
        return state[:, rows].contiguous()

    def token_log_probs(
        self, z: torch.Tensor, tokens: torch.Tensor, start_mask: torch.Tensor
    ) -> torch.Tensor:
        """log p(x_t | x_<t, z) of every target token (B,T) under teacher forcing; 0 at padding.

        The decoder's distribution is renormalised with the masks ``generate`` applies
        (atoms only first, never padding or ``<start>``), so the result is the
        probability that sampling at temperature 1 from ``z`` produces exactly ``tokens``.
        ``tokens`` are rows ``s_1 ... s_n <end> [nop]...`` as the vocabulary encodes them.
        """
        inputs = torch.full_like(tokens, PAD)
        inputs[:, 0] = BOS
        inputs[:, 1:] = tokens[:, :-1]
        inputs = inputs.masked_fill(inputs == EOS, PAD)
        logits = self.decode_logits(z, inputs).float()
        forbid = torch.zeros(self.vocab_size, dtype=torch.bool, device=logits.device)
        forbid[PAD] = True
        forbid[BOS] = True
        mask = forbid.expand(logits.shape[1], -1).clone()
        mask[0] = ~start_mask.to(logits.device)
        log_probs = torch.log_softmax(logits.masked_fill(mask, float("-inf")), dim=-1)
        picked = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        return picked.masked_fill(tokens == PAD, 0.0)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
