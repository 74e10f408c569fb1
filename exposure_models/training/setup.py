"""What a training run is made of: process setup, the two networks, their optimisers and losses.

Shared by ``prep train`` and the benchmarks (``benchmarks/train.py``, ``benchmarks/enhance.py``),
so a benchmark builds exactly what training builds.

Determinism: ``configure`` seeds every generator (torch, CUDA, numpy, Python), fixes the CPU
thread count, turns on ``torch.use_deterministic_algorithms`` (warn-only for ops that have no
deterministic kernel) and deterministic cuDNN; with the loader's own seeding
(``exposure_models.training.loader``), the same params, seed, worker count and machine give
byte-identical checkpoints on the CPU.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from exposure_core.exposure import Encoding
from exposure_core.fsutil import sha256_file
from exposure_models.runtime import autocast_dtype, pick_device
from exposure_models.seednets import build
from exposure_models.training import distributed as ddp
from exposure_models.training.config import TrainConfig
from exposure_models.training.gan_step import GanStep

# Settings that change how a run executes, not what it learns: a checkpoint made with other
# values of these is still resumed (``steps`` too, so a finished run can be extended).
RUNTIME_KEYS = frozenset(
    {
        "steps",
        "device",
        "amp",
        "channels_last",
        "compile",
        "workers",
        "log_every",
        "val_every",
        "val_images",
        "checkpoint_every",
        "crops_per_sample",
        "exact_resume",
        "max_corrupt",
        "epochs",
    }
)


def get_lr(step: int, p: TrainConfig) -> float:
    """pix2pix schedule: ``lr`` until ``decay_from * steps``, then linear decay to zero."""
    start = int(p.decay_from * p.steps)
    if step < start:
        return p.lr
    return p.lr * max(0.0, (p.steps - step) / max(1, p.steps - start))


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's and Python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def compute_threads(workers: int, world: int = 1) -> int:
    """Intra-op threads for CPU training: ``OMP_NUM_THREADS`` when set, else the cores of this
    process's share of the machine minus the loader workers (measured on 2 cores with 1 worker,
    1 compute thread trains 1.5x faster than 2). Fixed for a machine and params."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    if workers == 0:
        return torch.get_num_threads()  # torch's default for this machine
    cores = (os.cpu_count() or 1) // max(1, world)
    return max(1, cores - workers)


def configure(p: TrainConfig) -> tuple[torch.device, ddp.Dist]:
    """Device, process group, seeds, thread count and deterministic kernels for a run."""
    device = pick_device(p.device)
    ctx = ddp.init_distributed(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if device.type == "cuda":
        # cuBLAS needs this to be deterministic; read when its first handle is created
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cpu":
        torch.set_num_threads(compute_threads(p.workers, ctx.world))
    seed_everything(p.seed + ctx.rank)
    return device, ctx


def run_identity(p: TrainConfig, shards: Path, encoding: Encoding) -> dict[str, Any]:
    """What a checkpoint must share with this run to be resumed."""
    settings = {k: v for k, v in dataclasses.asdict(p).items() if k not in RUNTIME_KEYS}
    index = shards / "index.json"
    return {
        "architecture": {
            "generator": settings.pop("generator"),
            "discriminator": settings.pop("discriminator"),
            "encoding": encoding.to_dict(),
        },
        "params": settings,
        "data": sha256_file(index) if index.is_file() else "",
    }


def build_models(p: TrainConfig, encoding: Encoding | None = None) -> tuple[nn.Module, nn.Module]:
    """The two networks ``train.generator`` / ``train.discriminator`` describe (every ``arch``:
    ``exposure_models.seednets.build``)."""
    return build.build_models(p.generator, p.discriminator, p.init, encoding)


def build_step(
    p: TrainConfig, device: torch.device, world: int = 1, encoding: Encoding | None = None
) -> GanStep:
    """Networks, optimisers and losses of a fresh run, placed on ``device``."""
    fmt = torch.channels_last if p.channels_last else torch.contiguous_format
    generator, discriminator = build_models(p, encoding)
    generator.to(device, memory_format=fmt)
    discriminator.to(device, memory_format=fmt)
    amp = autocast_dtype(device, p.amp)
    perceptual = build.build_perceptual(p.loss)
    if perceptual is not None:
        perceptual = perceptual.to(device)
    g_fwd: Any = generator
    if world > 1:
        g_fwd = DistributedDataParallel(
            generator, device_ids=[device.index] if device.type == "cuda" else None
        )
    d_fwd: Any = discriminator
    if p.compile:
        g_fwd, d_fwd = torch.compile(g_fwd), torch.compile(discriminator)
    return GanStep(
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        scaler=torch.amp.GradScaler(device.type, enabled=amp == torch.float16),
        weights=p.loss,
        amp_dtype=amp,
        perceptual=perceptual,
        world=world,
        generator_fwd=g_fwd,
        discriminator_fwd=d_fwd,
    )
