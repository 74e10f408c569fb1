"""``prep train``: the conditional GAN (pix2pix U-Net + PatchGAN) on the training shards.

Each step: one discriminator update on (input, target) vs (input, G(input)), then one generator
update on adversarial + L1 (+ perceptual) losses (``exposure_models.training.gan_step``), with the
constant-then-linear-decay learning rate of pix2pix. AMP (bf16 where the GPU supports it),
channels_last and torch.compile are options. Runs on one process or many (``torchrun``; shards
split by node). Logs go through DVCLive; checkpoints (full state) are written atomically and a
restarted run resumes from the last one (see ``run``). The result is ``models/generator.pt``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from exposure_models.checkpoint import CheckpointError, save_generator
from exposure_models.runtime import autocast_dtype, pick_device
from exposure_models.seednets import build
from exposure_models.training import distributed as ddp
from exposure_models.training.gan_step import GanStep, LossWeights
from exposure_models.training.loader import make_loader, shard_urls
from exposure_models.training.trainstate import (
    differences,
    load_training,
    save_training,
    set_rng_state,
)
from exposure_models.training.validation import Validation
from pipeline.core.console import Summary, console
from pipeline.core.fsutil import sha256_file
from pipeline.errors import UserError
from pipeline.params import Params, TrainParams, to_dict

LAST = "last.pt"
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
        "epochs",
    }
)


class TrainingError(UserError):
    """Training cannot go on (diverged loss, no data); the message says what to do."""


def get_lr(step: int, p: TrainParams) -> float:
    """pix2pix schedule: ``lr`` until ``decay_from * steps``, then linear decay to zero."""
    start = int(p.decay_from * p.steps)
    if step < start:
        return p.lr
    return p.lr * max(0.0, (p.steps - step) / max(1, p.steps - start))


def run_identity(p: TrainParams, shards: Path) -> dict[str, Any]:
    """What a checkpoint must share with this run to be resumed."""
    settings = {k: v for k, v in to_dict(p).items() if k not in RUNTIME_KEYS}
    index = shards / "index.json"
    return {
        "architecture": {
            "generator": settings.pop("generator"),
            "discriminator": settings.pop("discriminator"),
        },
        "params": settings,
        "data": sha256_file(index) if index.is_file() else "",
    }


def build_models(p: TrainParams) -> tuple[nn.Module, nn.Module]:
    """The two networks of ``train.generator`` / ``train.discriminator`` (every ``arch``)."""
    return build.build_models(p)


def build_step(p: TrainParams, device: torch.device, world: int = 1) -> GanStep:
    """Networks, optimisers and losses of a fresh run, placed on ``device``."""
    fmt = torch.channels_last if p.channels_last else torch.contiguous_format
    generator, discriminator = build_models(p)
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
    loss = p.loss
    return GanStep(
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2)),
        scaler=torch.amp.GradScaler(device.type, enabled=amp == torch.float16),
        weights=LossWeights(
            loss.gan, loss.gan_weight, loss.l1_weight, loss.perceptual_weight, loss.content_space
        ),
        amp_dtype=amp,
        perceptual=perceptual,
        world=world,
        generator_fwd=g_fwd,
        discriminator_fwd=d_fwd,
    )


def resume_state(
    last: Path, identity: dict[str, Any], fresh: bool, resume: bool, summary: Summary
) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None to start over (see ``run``)."""
    if fresh:
        return None
    if not last.exists():
        if resume:
            raise CheckpointError(f"{last}: no checkpoint to resume from")
        return None
    state = load_training(last)
    changed = [c for changes in differences(state, identity).values() for c in changes]
    if changed and resume:
        raise CheckpointError(
            f"{last} cannot be resumed: {'; '.join(changed)}. "
            "Restore those params, or start over with `prep train --fresh`"
        )
    if changed:
        summary.notes.append(
            f"[yellow]{last} was made with other settings "
            f"({'; '.join(changed)[:300]}): starting over[/yellow]"
        )
        return None
    return state


def load_into(gan: GanStep, state: dict[str, Any]) -> int:
    """Restore a training checkpoint into ``gan``; returns its step."""
    gan.generator.load_state_dict(state["generator"])
    gan.discriminator.load_state_dict(state["discriminator"])
    gan.opt_g.load_state_dict(state["opt_g"])
    gan.opt_d.load_state_dict(state["opt_d"])
    gan.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["step"])


def run(
    params: Params,
    shards: Path,
    model_out: Path,
    checkpoints: Path,
    logs: Path,
    fresh: bool = False,
    resume: bool = False,
) -> Summary:
    """Train on ``shards`` (``prep shard`` output); write ``model_out`` (generator.pt).

    The last checkpoint is resumed when it was made with the same architecture, training
    params (other than ``RUNTIME_KEYS``) and shards; otherwise training starts over, with a
    note. ``resume=True`` insists on resuming (error if impossible); ``fresh=True`` ignores it.
    """
    p = build.resolve_steps(params.train, shards)  # train.epochs -> steps
    params = dataclasses.replace(params, train=p)
    summary = Summary("train", unit="img", rate_key="images")
    device = pick_device(p.device)
    ctx = ddp.init_distributed(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    torch.manual_seed(p.seed + ctx.rank)
    if device.type == "cpu" and p.workers > 0 and "OMP_NUM_THREADS" not in os.environ:
        # compute threads + loader workers must not oversubscribe the cores: measured on 2
        # cores with 1 worker, 1 compute thread trains 1.5x faster than 2
        cores = (os.cpu_count() or 1) // ctx.world
        torch.set_num_threads(max(1, cores - p.workers))
    fmt = torch.channels_last if p.channels_last else torch.contiguous_format

    gan = build_step(p, device, ctx.world)
    if ctx.main:
        console.print(build.describe(gan.generator, gan.discriminator, p), highlight=False)
    last = checkpoints / LAST
    identity = run_identity(p, shards)
    state = resume_state(last, identity, fresh, resume, summary)
    step = load_into(gan, state) if state is not None else 0
    if state is not None:
        summary.notes.append(f"resumed from {last} at step {step}")
    if step >= p.steps:
        summary.notes.append(f"already trained to step {step} (train.steps = {p.steps})")

    live = _live(logs, params, resume=step > 0) if ctx.main else None
    exposure = p.task == "exposure"  # super-resolution is scored by `prep evaluate --task sr`
    validation = (
        Validation.load(shards, p.val_images, p.resize) if ctx.main and exposure else Validation([])
    )
    loader = make_loader(
        shard_urls(shards, "train"),
        batch_size=p.batch_size,
        crop=p.crop,
        train=True,
        shuffle_buffer=p.shuffle_buffer,
        workers=p.workers,
        seed=p.seed + step,
        augment=p.augment,
        epoch_len=max(1, p.steps - step),
        resize=p.resize,
        crops_per_sample=p.crops_per_sample,
        square=p.resize_mode == "square",
    )

    def checkpoint() -> None:
        if ctx.main:
            save_training(
                last,
                step=step,
                generator=gan.generator,
                discriminator=gan.discriminator,
                opt_g=gan.opt_g,
                opt_d=gan.opt_d,
                scaler=gan.scaler,
                identity=identity,
            )

    window_start, window_images = time.perf_counter(), 0
    try:
        for batch in loader if step < p.steps else []:
            x = batch.input.to(device, non_blocking=True).contiguous(memory_format=fmt)
            y = batch.target.to(device, non_blocking=True).contiguous(memory_format=fmt)
            x = build.task_input(x, y, p).contiguous(memory_format=fmt)
            lr = get_lr(step, p)
            out = gan.step(x, y, lr)
            if not ddp.all_finite(torch.stack([out["loss_d"], out["loss_g"]]).float(), ctx):
                raise TrainingError(
                    f"step {step}: loss is not finite (D {out['loss_d'].item()}, "
                    f"G {out['loss_g'].item()}); stopped without saving, the last good "
                    f"checkpoint is kept in {last}. Lower train.lr, disable train.amp, or "
                    "enable spectral norm."
                )
            step += 1
            images = x.shape[0] * ctx.world
            window_images += images
            summary.add("images", images)
            if ctx.main and (step % p.log_every == 0 or step == p.steps):
                rate = window_images / max(time.perf_counter() - window_start, 1e-9)
                values = {k: v.item() for k, v in out.items()}
                values.update(lr=lr, images_per_s=rate, skipped_samples=loader.stats.skipped)
                _log(live, step, {f"train/{k}": v for k, v in values.items()})
                console.print(
                    f"step {step}/{p.steps}  D {values['loss_d']:.3f}  G {values['loss_g']:.3f}  "
                    f"L1 {values['loss_l1']:.4f}  D(real) {values['d_real']:.2f}  "
                    f"D(fake) {values['d_fake']:.2f}  {rate:.1f} img/s",
                    highlight=False,
                )
                window_start, window_images = time.perf_counter(), 0
            if ctx.main and validation.pairs and (step % p.val_every == 0 or step == p.steps):
                scores, grid = validation.score(gan.generator, device)
                _log(live, step, {f"val/{k}": v for k, v in scores.items()})
                if live is not None:
                    live.log_image("val_samples.png", grid)
            if step % p.checkpoint_every == 0 or step == p.steps:
                checkpoint()
    except KeyboardInterrupt:
        checkpoint()  # an interrupted run resumes from here
        raise
    finally:
        if live is not None:
            live.end()

    if ctx.main:
        save_generator(
            model_out,
            gan.generator,
            {
                "step": step,
                "preset": p.preset,
                "crop": p.crop,
                "resize": p.resize,
                "train": to_dict(p),
            },
        )
        summary.add("steps", step)
        summary.notes.append(
            f"generator written to {model_out}: "
            f"{build.describe(gan.generator, gan.discriminator, p)}"
        )
        if loader.stats.skipped:
            summary.notes.append(f"[yellow]{loader.stats.skipped} corrupt samples skipped[/yellow]")
    ddp.barrier(ctx)
    ddp.shutdown(ctx)
    return summary


def _live(logs: Path, params: Params, resume: bool) -> Any:
    from dvclive import Live

    live = Live(str(logs), resume=resume, save_dvc_exp=False, dvcyaml=False)
    live.log_params(to_dict(params.train))
    return live


def _log(live: Any, step: int, values: dict[str, float]) -> None:
    if live is None:
        return
    live.step = step
    for name, value in values.items():
        live.log_metric(name, value)
    live.make_summary()
