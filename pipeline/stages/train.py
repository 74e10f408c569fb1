"""``prep train``: the conditional GAN (pix2pix U-Net + PatchGAN) on the training shards.

Each step: one discriminator update on (input, target) vs (input, G(input)), then one generator
update on adversarial + L1 (+ perceptual) losses, with the constant-then-linear-decay learning
rate of pix2pix. AMP (bf16 where the GPU supports it), channels_last and torch.compile are
options. Runs on one process or many (``torchrun``; shards split by node). Logs go through
DVCLive; checkpoints (full state) are written atomically and a restarted run resumes from the
last one unless ``--fresh``. The result is ``models/generator.pt`` for evaluate and enhance.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from exposure_models import distributed as ddp
from exposure_models.checkpoint import CheckpointError, save_generator
from exposure_models.discriminator import PatchDiscriminator
from exposure_models.generator import UNetConfig, UNetGenerator, predict_padded
from exposure_models.losses import PerceptualLoss, content_l1, discriminator_loss, gan_loss
from exposure_models.runtime import autocast_dtype, pick_device
from exposure_models.trainstate import differences, load_training, save_training, set_rng_state
from pipeline import metrics
from pipeline.fsutil import sha256_file
from pipeline.loader import make_loader, shard_urls
from pipeline.params import Params, TrainParams, to_dict
from pipeline.report import Summary, console

LAST = "last.pt"


class TrainingError(RuntimeError):
    """Training cannot go on (diverged loss, no data); the message says what to do."""


def get_lr(step: int, p: TrainParams) -> float:
    """pix2pix schedule: ``lr`` until ``decay_from * steps``, then linear decay to zero."""
    start = int(p.decay_from * p.steps)
    if step < start:
        return p.lr
    return p.lr * max(0.0, (p.steps - step) / max(1, p.steps - start))


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
    }
)


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


def build_models(p: TrainParams) -> tuple[UNetGenerator, PatchDiscriminator]:
    g = p.generator
    generator = UNetGenerator(
        UNetConfig(
            depth=g.depth,
            width=g.width,
            norm=g.norm,
            spectral_norm=g.spectral_norm,
            noise=g.noise,
            output=g.output,
            color_space=g.color_space,
            dropout=g.dropout,
        )
    )
    d = p.discriminator
    discriminator = PatchDiscriminator(
        n_layers=d.n_layers, width=d.width, norm=d.norm, spectral_norm=d.spectral_norm
    )
    return generator, discriminator


@dataclass
class Validation:
    """Validation images (full size, long side capped) and the scoring of a generator."""

    pairs: list[tuple[torch.Tensor, torch.Tensor]]
    max_side: int = 512

    @classmethod
    def load(cls, shards: Path, count: int) -> Validation:
        if count <= 0:
            return cls([])
        loader = make_loader(shard_urls(shards, "val"), batch_size=1, crop=None, train=False)
        pairs = []
        for batch in loader:
            pairs.append((batch.input, batch.target))
            if len(pairs) >= count:
                break
        return cls(pairs)

    @torch.no_grad()
    def score(
        self, generator: nn.Module, device: torch.device
    ) -> tuple[dict[str, float], np.ndarray]:
        """Mean PSNR/SSIM over the pairs, and a sample grid (input | output | target rows)."""
        was_training = generator.training
        generator.eval()
        psnrs, ssims, rows = [], [], []
        for x, y in self.pairs:
            scale = self.max_side / max(x.shape[-2:])
            if scale < 1:
                size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
                x = nn.functional.interpolate(x, size=size, mode="area")
                y = nn.functional.interpolate(y, size=size, mode="area")
            out = predict_padded(generator, x.to(device)).float().clamp(0, 1).cpu()
            pred, target = (t[0].permute(1, 2, 0).numpy() for t in (out, y))
            psnrs.append(metrics.psnr(pred, target))
            ssims.append(metrics.ssim(pred, target))
            if len(rows) < 4:
                rows.append(np.concatenate([x[0].permute(1, 2, 0).numpy(), pred, target], axis=1))
        generator.train(was_training)
        width = max(r.shape[1] for r in rows)
        grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
        finite = [v for v in psnrs if math.isfinite(v)]
        scores = {
            "psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean(ssims)),
        }
        return scores, (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)


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
    params and shards; otherwise training starts over (with a note). ``resume=True`` insists
    on resuming (error if impossible); ``fresh=True`` ignores the checkpoint.
    """
    p = params.train
    summary = Summary("train", unit="img", rate_key="images")
    device = pick_device(p.device)
    ctx = ddp.init_distributed(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    torch.manual_seed(p.seed + ctx.rank)
    amp_dtype = autocast_dtype(device, p.amp)
    memory_format = torch.channels_last if p.channels_last else torch.contiguous_format

    generator, discriminator = build_models(p)
    generator.to(device, memory_format=memory_format)
    discriminator.to(device, memory_format=memory_format)
    opt_g = torch.optim.Adam(generator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=p.lr, betas=(p.beta1, p.beta2))
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    perceptual = None
    if p.loss.perceptual_weight > 0:
        perceptual = PerceptualLoss(p.loss.vgg_weights or None).to(device)

    step = 0
    last = checkpoints / LAST
    identity = run_identity(p, shards)
    state = None if fresh or not last.exists() else load_training(last)
    if state is not None:
        changed = differences(state, identity)
        if changed and resume:
            raise CheckpointError(
                f"{last} cannot be resumed: "
                + "; ".join(c for v in changed.values() for c in v)
                + ". Restore those params, or start over with `prep train --fresh`"
            )
        if changed:
            summary.notes.append(
                f"[yellow]{last} was made with other settings "
                f"({'; '.join(c for v in changed.values() for c in v)[:300]}): starting over"
                "[/yellow]"
            )
            state = None
    elif resume:
        raise CheckpointError(f"{last}: no checkpoint to resume from")
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        step = int(state["step"])
        summary.notes.append(f"resumed from {last} at step {step}")
    if step >= p.steps:
        summary.notes.append(f"already trained to step {step} (train.steps = {p.steps})")

    g_train: nn.Module = generator
    if ctx.enabled:
        g_train = DistributedDataParallel(
            generator, device_ids=[device.index] if device.type == "cuda" else None
        )
    g_fwd, d_fwd = g_train, discriminator
    if p.compile:
        g_fwd, d_fwd = torch.compile(g_train), torch.compile(discriminator)

    live = _live(logs, params, resume=step > 0) if ctx.main else None
    validation = Validation.load(shards, p.val_images) if ctx.main else Validation([])
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
    )

    def autocast():  # type: ignore[no-untyped-def]
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    def checkpoint() -> None:
        if ctx.main:
            save_training(
                last,
                step=step,
                generator=generator,
                discriminator=discriminator,
                opt_g=opt_g,
                opt_d=opt_d,
                scaler=scaler,
                identity=identity,
            )

    window = {"start": time.perf_counter(), "images": 0}
    try:
        for batch in loader if step < p.steps else []:
            x = batch.input.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            y = batch.target.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            lr = get_lr(step, p)
            for group in (*opt_g.param_groups, *opt_d.param_groups):
                group["lr"] = lr

            # discriminator: real pairs towards 1, generated pairs towards 0
            with autocast():
                fake = g_fwd(x)
                d_real = d_fwd(x, y)
                d_fake = d_fwd(x, fake.detach())
                loss_d = discriminator_loss(d_real, d_fake, p.loss.gan)
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            ddp.average_gradients(discriminator, ctx.world)
            scaler.step(opt_d)

            # generator: fool the (frozen) discriminator and stay close to the target
            discriminator.requires_grad_(False)
            with autocast():
                loss_gan = gan_loss(d_fwd(x, fake), True, p.loss.gan)
                loss_l1 = content_l1(fake, y, generator.model_range)
                loss_g = p.loss.gan_weight * loss_gan + p.loss.l1_weight * loss_l1
                if perceptual is not None:
                    loss_g = loss_g + p.loss.perceptual_weight * perceptual(fake.float(), y)
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            scaler.step(opt_g)
            scaler.update()
            discriminator.requires_grad_(True)

            if not ddp.all_finite(torch.stack([loss_d.detach(), loss_g.detach()]).float(), ctx):
                raise TrainingError(
                    f"step {step}: loss is not finite (D {loss_d.item()}, G {loss_g.item()}); "
                    f"stopped without saving, the last good checkpoint is kept in {last}. "
                    "Lower train.lr, disable train.amp, or enable spectral norm."
                )
            step += 1
            window["images"] += x.shape[0] * ctx.world
            summary.add("images", x.shape[0] * ctx.world)
            if ctx.main and (step % p.log_every == 0 or step == p.steps):
                seconds = time.perf_counter() - window["start"]
                rate = window["images"] / max(seconds, 1e-9)
                values = {
                    "loss_d": loss_d.item(),
                    "loss_g": loss_g.item(),
                    "loss_gan": loss_gan.item(),
                    "loss_l1": loss_l1.item(),
                    "d_real": torch.sigmoid(d_real.float()).mean().item(),
                    "d_fake": torch.sigmoid(d_fake.float()).mean().item(),
                    "lr": lr,
                    "images_per_s": rate,
                    "skipped_samples": loader.stats.skipped,
                }
                _log(live, step, {f"train/{k}": v for k, v in values.items()})
                console.print(
                    f"step {step}/{p.steps}  D {values['loss_d']:.3f}  G {values['loss_g']:.3f}  "
                    f"L1 {values['loss_l1']:.4f}  D(real) {values['d_real']:.2f}  "
                    f"D(fake) {values['d_fake']:.2f}  {rate:.1f} img/s",
                    highlight=False,
                )
                window.update(start=time.perf_counter(), images=0)
            if ctx.main and validation.pairs and (step % p.val_every == 0 or step == p.steps):
                scores, grid = validation.score(generator, device)
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
            generator,
            {
                "step": step,
                "preset": p.preset,
                "crop": p.crop,
                "train": to_dict(p),
            },
        )
        summary.add("steps", step)
        summary.notes.append(f"generator written to {model_out} ({_count(generator)} parameters)")
        if loader.stats.skipped:
            summary.notes.append(f"[yellow]{loader.stats.skipped} corrupt samples skipped[/yellow]")
    ddp.barrier(ctx)
    ddp.shutdown(ctx)
    return summary


def _count(module: nn.Module) -> str:
    return f"{sum(t.numel() for t in module.parameters()) / 1e6:.2f}M"


def _live(logs: Path, params: Params, resume: bool):  # type: ignore[no-untyped-def]
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
