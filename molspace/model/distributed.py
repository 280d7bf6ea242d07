"""Data-parallel VAE training over worker processes (torch.distributed, gloo, CPU).

``launch`` runs a function in N spawned processes joined in one gloo group on 127.0.0.1
and supervises them: a stop request (SIGTERM/SIGINT) to the parent reaches every rank, a
rank that fails takes the others down, and the ranks' ends come back as a value, as
``Interrupted`` or as the rank's own ``MolspaceError``.

The training step goes through a *sync*: ``LocalSync`` is one process (today's step, the
same operations in the same order), ``GroupSync`` is one rank of a group. A rank trains on
every ``world``-th row of each global batch (rows of a bucketed batch have similar lengths,
so the shares cost alike) and weighs its loss terms by its share of the whole batch: the
reconstruction by rows, the free-bits floor on the KL of the *whole* batch per dimension
(one small all-reduce before backward), the property MSE by labelled rows. Gradients are
then summed over ranks in one flat all-reduce, so every rank takes the update one process
takes on the whole batch, up to float summation order. Every rank draws the whole batch's
reparameterization noise from the shared generator and uses its rows: the generator state
stays the same on all ranks and equal to a one-process run's, so a checkpoint resumes with
any number of processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

import molspace.errors
from molspace.errors import ConfigError, MolspaceError
from molspace.interrupt import Interrupted, handle_stop_signals, request_stop, stop_requested
from molspace.model.batches import batch_tensors, vae_losses
from molspace.model.config import TrainConfig
from molspace.model.vae import SelfiesVAE

__all__ = ["GroupSync", "LocalSync", "launch", "train_data_parallel"]

#: how long a rank waits for the others in a collective (rank 0 validating, saving a bundle)
COLLECTIVE_TIMEOUT = timedelta(hours=2)
#: after one rank failed, how long the others get to end before they are killed
FAILURE_GRACE_S = 10.0

Autocast = Callable[[], contextlib.AbstractContextManager[Any]] | None


def _loss(losses: dict[str, torch.Tensor], beta: float, config: TrainConfig) -> torch.Tensor:
    loss = losses["recon"] + beta * losses["kl_free"]
    if "prop_mse" in losses:
        loss = loss + config.property_weight * losses["prop_mse"]
    return loss


class LocalSync:
    """One training process: the step as it always was; every agreement is local."""

    rank = 0
    world = 1
    is_main = True

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        yield

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        return flags

    def share(self, model: torch.nn.Module) -> None:
        del model

    def backward(
        self,
        model: SelfiesVAE,
        rows: np.ndarray,
        props: np.ndarray | None,
        index: np.ndarray,
        *,
        beta: float,
        config: TrainConfig,
        generator: torch.Generator,
        autocast: Autocast,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        """Forward and backward of one batch; the detached loss terms for the log."""
        tokens, lens = batch_tensors(rows, index, device)
        p = torch.from_numpy(props[index]).to(device) if props is not None else None
        with autocast() if autocast is not None else contextlib.nullcontext():
            losses = vae_losses(model, tokens, lens, config.kl.free_bits, generator, p)
        loss = _loss(losses, beta, config)
        loss.backward()
        keys = ("recon", "kl", "token_acc", "prop_mse")
        logged = {k: losses[k].detach() for k in keys if k in losses}
        return {"loss": loss.detach(), **logged}


class GroupSync(LocalSync):
    """One rank of a data-parallel group (``torch.distributed`` initialised by ``launch``)."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank = rank
        self.world = world
        self.is_main = rank == 0

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it builds shared caches), the others after it."""
        if not self.is_main:
            dist.barrier()
        yield
        if self.is_main:
            dist.barrier()

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on any rank is true on all (one small all-reduce)."""
        values = torch.tensor([float(f) for f in flags])
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in values)

    def share(self, model: torch.nn.Module) -> None:
        """Rank 0's weights and buffers to every rank (they start alike anyway: same seed)."""
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)

    def backward(
        self,
        model: SelfiesVAE,
        rows: np.ndarray,
        props: np.ndarray | None,
        index: np.ndarray,
        *,
        beta: float,
        config: TrainConfig,
        generator: torch.Generator,
        autocast: Autocast,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        """This rank's share of the batch; on return every rank holds the gradient of the
        whole batch's loss and the whole batch's loss terms."""
        latent = model.config.latent_dim
        noise = torch.randn((len(index), latent), generator=generator)[self.rank :: self.world]
        mine = index[self.rank :: self.world]
        weight = len(mine) / len(index)
        free_bits = config.kl.free_bits
        stats = torch.zeros(latent + 1)
        losses: dict[str, torch.Tensor] = {}
        if len(mine):
            tokens, lens = batch_tensors(rows, mine, device)
            p = torch.from_numpy(props[mine]).to(device) if props is not None else None
            with autocast() if autocast is not None else contextlib.nullcontext():
                losses = vae_losses(model, tokens, lens, free_bits, generator, p, noise=noise)
            stats[:latent] = losses["kl_dim"].float() * weight
            labelled = int((~torch.isnan(p)).sum()) if p is not None else 0
            stats[latent] = labelled
        dist.all_reduce(stats)
        kl_dim, labelled_all = stats[:latent], max(1.0, float(stats[latent]))
        extra = torch.zeros(4)  # recon, property squared error, correct tokens, tokens
        if losses:
            # the floor of the whole batch's KL per dimension: clamp's gradient mask (>=)
            floor = (kl_dim >= free_bits).to(losses["kl_dim_grad"].dtype)
            loss = losses["recon"] * weight + beta * (losses["kl_dim_grad"] * floor).sum() * weight
            if "prop_mse" in losses:
                squared = losses["prop_mse"] * max(1, labelled)
                loss = loss + config.property_weight * squared / labelled_all
                extra[1] = float(squared.detach())
            loss.backward()
            n_tokens = float(lens.sum())
            extra[0] = float(losses["recon"].detach()) * weight
            extra[2] = float(losses["token_acc"]) * n_tokens
            extra[3] = n_tokens
        self._reduce_grads(model, extra)
        recon = extra[0]
        kl_free = kl_dim.clamp(min=free_bits).sum()
        total = recon + beta * kl_free
        out = {"recon": recon, "kl": kl_dim.sum(), "token_acc": extra[2] / extra[3].clamp(min=1)}
        if props is not None and model.property_head is not None:
            out["prop_mse"] = extra[1] / labelled_all
            total = total + config.property_weight * out["prop_mse"]
        return {"loss": total, **out}

    def _reduce_grads(self, model: torch.nn.Module, extra: torch.Tensor) -> None:
        """Sum gradients (and ``extra``, in place) over ranks in one flat all-reduce; a
        parameter without a gradient on every rank keeps none (Adam skips it, as alone)."""
        params = list(model.parameters())
        parts = [
            p.grad.reshape(-1).float() if p.grad is not None else torch.zeros(p.numel())
            for p in params
        ]
        present = torch.tensor([float(p.grad is not None) for p in params])
        flat = torch.cat([*parts, present, extra])
        dist.all_reduce(flat)
        offset = 0
        has = flat[flat.numel() - len(params) - len(extra) : flat.numel() - len(extra)]
        for param, used in zip(params, has, strict=True):
            n = param.numel()
            if used > 0:
                param.grad = flat[offset : offset + n].view_as(param)
            offset += n
        extra.copy_(flat[flat.numel() - len(extra) :])


def train_data_parallel(
    config: TrainConfig,
    run: Path,
    *,
    resume: bool,
    progress: bool | None,
    log: Callable[[str], None],
) -> Any:
    """``train`` with ``config.processes`` ranks: rank 0 logs (to stdout) and writes the run.

    ``threads`` unset gives each rank its share of the CPUs, not torch's default of all.
    """
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        raise ConfigError("processes > 1 trains on the CPU (gloo); set device = 'cpu'")
    world = config.processes
    if config.threads is None:
        threads = max(1, (os.cpu_count() or 1) // world)
        config = config.model_copy(update={"threads": threads})
    log(f"data-parallel training: {world} processes x {config.threads} threads (gloo)")
    payload = (config.model_dump(mode="json"), str(run), resume, progress)
    return launch(_train_rank, payload, world)[0]


def _train_rank(
    rank: int, world: int, config: dict[str, Any], run: str, resume: bool, progress: bool | None
) -> Any:
    from molspace.model.train import train_process

    return train_process(
        TrainConfig.model_validate(config),
        Path(run),
        resume=resume,
        progress=progress,
        log=(lambda message: print(message, flush=True)) if rank == 0 else (lambda _: None),
        sync=GroupSync(rank, world),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _watch(parent: int, stop: Any) -> None:
    """Request a stop when the parent asks for one or has died (no orphaned ranks)."""
    while not stop_requested():
        if stop.is_set() or os.getppid() != parent:
            request_stop()
            return
        time.sleep(0.2)


def _bootstrap(
    rank: int,
    world: int,
    port: int,
    parent: int,
    stop: Any,
    results: Any,
    target: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    """Entry of a spawned rank: join the group, run ``target``, report how it ended."""
    code = 0
    with handle_stop_signals():
        threading.Thread(target=_watch, args=(parent, stop), daemon=True).start()
        try:
            dist.init_process_group(
                "gloo",
                init_method=f"tcp://127.0.0.1:{port}",
                rank=rank,
                world_size=world,
                timeout=COLLECTIVE_TIMEOUT,
            )
            # plain pickle: torch's queue pickling shares tensors through this process,
            # which exits right after
            results.put(("ok", rank, pickle.dumps(target(rank, world, *args))))
        except Interrupted as exc:
            results.put(("interrupted", rank, str(exc)))
            code = 75
        except MolspaceError as exc:
            results.put(("error", rank, (type(exc).__name__, str(exc))))
            code = 2
        except BaseException:
            traceback.print_exc()
            results.put(("crash", rank, f"rank {rank} failed (traceback above)"))
            code = 1
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    os._exit(code)  # skip atexit hooks of a half-torn-down group


def launch(target: Callable[..., Any], args: tuple[Any, ...], world: int) -> list[Any]:
    """``target(rank, world, *args)`` in ``world`` spawned processes of one gloo group.

    Returns the ranks' return values (by rank). SIGTERM/SIGINT to this process ask every
    rank to stop at its next safe point; then raises ``Interrupted``. A rank's
    ``MolspaceError`` is raised here as the same class; a rank that crashes or dies takes
    the others down (they are killed after ``FAILURE_GRACE_S``) and raises ``MolspaceError``.
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    results = ctx.SimpleQueue()
    port = _free_port()
    procs = [
        ctx.Process(
            target=_bootstrap,
            args=(rank, world, port, os.getpid(), stop, results, target, args),
            name=f"molspace-rank{rank}",
        )
        for rank in range(world)
    ]
    for proc in procs:
        proc.start()
    reports: dict[int, tuple[str, Any]] = {}
    failed_at: float | None = None
    with handle_stop_signals():
        try:
            while any(proc.is_alive() for proc in procs) or not results.empty():
                while not results.empty():
                    kind, rank, value = results.get()
                    reports[rank] = (kind, value)
                if stop_requested():
                    stop.set()
                bad = [p for p in procs if p.exitcode not in (None, 0, 75)]
                if bad and failed_at is None:
                    failed_at = time.monotonic()
                    stop.set()
                if failed_at is not None and time.monotonic() - failed_at > FAILURE_GRACE_S:
                    for proc in procs:
                        if proc.is_alive():
                            proc.kill()
                time.sleep(0.05)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                proc.join()
    return _outcome(procs, reports)


def _outcome(procs: list[Any], reports: dict[int, tuple[str, Any]]) -> list[Any]:
    for rank in range(len(procs)):
        kind, value = reports.get(rank, ("died", None))
        if kind == "error":
            name, message = value
            error = getattr(molspace.errors, name, MolspaceError)
            raise (error if isinstance(error, type) else MolspaceError)(message)
    for rank, proc in enumerate(procs):
        kind, value = reports.get(rank, ("died", None))
        if kind in ("crash", "died"):
            raise MolspaceError(
                value
                or f"training rank {rank} died (exit code {proc.exitcode}; "
                f"signal {-proc.exitcode if proc.exitcode and proc.exitcode < 0 else 'none'})"
            )
    interrupted = [value for kind, value in reports.values() if kind == "interrupted"]
    if interrupted:
        raise Interrupted(reports[0][1] if reports[0][0] == "interrupted" else interrupted[0])
    return [pickle.loads(reports[rank][1]) for rank in range(len(procs))]
