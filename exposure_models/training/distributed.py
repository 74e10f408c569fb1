"""Multi-process training helpers (``torchrun``): process group, rank facts, gradient sync."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_type: str) -> Dist:
    """Join the ``torchrun`` job described by the environment (RANK, WORLD_SIZE, ...).

    NCCL on CUDA, gloo otherwise (CPU tests run 2 processes with gloo).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Dist(rank, local_rank, world)


def average_gradients(module: nn.Module, world: int) -> None:
    """All-reduce and average the gradients of ``module`` in one flat buffer.

    Used for the discriminator, which runs two forward passes (real, fake) per step with
    separate batch statistics as in pix2pix; DDP's reducer expects one forward per backward.
    """
    if world <= 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_finite(value: torch.Tensor, ctx: Dist) -> bool:
    """True when ``value`` is finite on every rank (so all ranks stop together)."""
    bad = torch.tensor([0.0 if torch.isfinite(value).all() else 1.0], device=value.device)
    if ctx.enabled:
        dist.all_reduce(bad)
    return bool(bad.item() == 0)


def barrier(ctx: Dist) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: Dist) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
