"""Networks and losses from the ``train`` params, for every architecture, and the run length.

``build_models(p)`` returns ``(generator, discriminator)``; ``describe`` says what was built
(parameter counts and fields of view, computed from the layer lists) for ``prep train`` to print.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict as to_dict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from exposure_core.errors import UserError
from exposure_core.exposure import Encoding
from exposure_models.config import LossWeights as LossParams
from exposure_models.config import UNetConfig as GeneratorParams
from exposure_models.discriminator import PatchDiscriminator
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.losses import PerceptualLoss
from exposure_models.seednets import seed002
from exposure_models.seednets.fov import field_of_view
from exposure_models.seednets.losses import Eq5PerceptualLoss
from exposure_models.seednets.registry import SR_ARCHS, ZeroPadUNetConfig, ZeroPadUNetGenerator
from exposure_models.seednets.seed003 import (
    Seed003Discriminator,
    Seed003DiscriminatorConfig,
    Seed003Generator,
    Seed003GeneratorConfig,
)
from exposure_models.seednets.sr import (
    RRDBConfig,
    RRDBGenerator,
    SeedSRConfig,
    SeedSRGenerator,
    degrade,
)
from exposure_models.training.config import TrainConfig as TrainParams

_UNET_KEYS = tuple(f.name for f in dataclasses.fields(UNetConfig))


class ModelParamsError(UserError):
    """``train.generator`` / ``train.discriminator`` / ``train.task`` do not make a network."""


def _pick(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: source[k] for k in keys if k in source}


def build_generator(p: TrainParams, encoding: Encoding | None = None) -> nn.Module:
    """The generator ``train.generator`` describes (``arch`` picks the network); ``encoding``
    is the curve of the training pairs, which the U-Net's gain output works in."""
    g: GeneratorParams = p.generator
    sr_arch = g.arch in SR_ARCHS
    if sr_arch != (p.task == "sr"):
        raise ModelParamsError(
            f"train.generator.arch {g.arch!r} does not fit train.task {p.task!r}: "
            f"task sr needs one of {SR_ARCHS}, task exposure one of the others"
        )
    raw = to_dict(g)
    try:
        if g.arch == "unet":
            unet = _pick(raw, _UNET_KEYS)
            if g.bottleneck_padding == "reflect":
                return UNetGenerator(
                    g if isinstance(g, UNetConfig) else UNetConfig(**unet), encoding
                )
            return ZeroPadUNetGenerator(ZeroPadUNetConfig(**unet), encoding)
        if g.arch == "seed002":
            levels, kernel = g.levels, g.kernel
            if g.fov > 0:
                levels, kernel = seed002.generator_design_for_fov(g.fov)
            return seed002.Seed002Generator(
                seed002.Seed002GeneratorConfig(
                    levels=levels,
                    width=g.width,
                    kernel=kernel,
                    norm=g.norm,
                    spectral_norm=g.spectral_norm,
                    noise=g.noise,
                )
            )
        if g.arch == "seed003":
            return Seed003Generator(
                Seed003GeneratorConfig(width=g.width, color_space=g.color_space)
            )
        if g.arch == "seed003_sr":
            return SeedSRGenerator(
                SeedSRConfig(scale=p.sr.scale, width=g.width, upsampling=g.upsampling)
            )
        return RRDBGenerator(
            RRDBConfig(
                scale=p.sr.scale,
                features=g.features,
                blocks=g.blocks,
                growth=g.growth,
                base=g.base,
            )
        )
    except ValueError as err:
        raise ModelParamsError(f"train.generator ({g.arch}): {err}") from err


def build_discriminator(p: TrainParams) -> nn.Module:
    """The discriminator ``train.discriminator`` describes (``arch`` picks the network)."""
    d = p.discriminator
    try:
        if d.arch == "patch":
            return PatchDiscriminator(d.n_layers, d.width, d.norm, d.spectral_norm)
        if d.arch == "seed002":
            n_layers, extra = d.n_layers, d.extra
            if d.fov > 0:
                n_layers, extra = seed002.discriminator_design_for_fov(d.fov)
            return seed002.Seed002Discriminator(
                seed002.Seed002DiscriminatorConfig(
                    n_layers=n_layers,
                    extra=extra,
                    width=d.width,
                    norm=d.norm,
                    spectral_norm=d.spectral_norm,
                )
            )
        return Seed003Discriminator(
            Seed003DiscriminatorConfig(width=d.width, color_space=d.color_space)
        )
    except ValueError as err:
        raise ModelParamsError(f"train.discriminator ({d.arch}): {err}") from err


def pytorch_init_(module: nn.Module) -> None:
    """In place: PyTorch's default initialisation on every layer that has one (what a network
    gets when, as in seed 000's listing, nothing else initialises it)."""
    for m in module.modules():
        if parametrize.is_parametrized(m):
            raise ModelParamsError(
                "train.init: pytorch is not available with spectral norm (the weights are "
                "parametrised); use train.init: native"
            )
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


def build_models(p: TrainParams, encoding: Encoding | None = None) -> tuple[nn.Module, nn.Module]:
    """``(generator, discriminator)`` for the ``train`` params, initialised per ``train.init``."""
    generator = build_generator(p, encoding)
    check_task(p)
    discriminator = build_discriminator(p)
    if p.init == "pytorch":
        pytorch_init_(generator)
        pytorch_init_(discriminator)
    return generator, discriminator


def build_perceptual(loss: LossParams) -> PerceptualLoss | None:
    """The VGG-19 perceptual loss when its weight is > 0 (``perceptual_norm`` picks eq. 5)."""
    if loss.perceptual_weight <= 0:
        return None
    cls = Eq5PerceptualLoss if loss.perceptual_norm == "eq5" else PerceptualLoss
    return cls(loss.vgg_weights or None)


def generator_fov(generator: nn.Module) -> int | None:
    """Field of view of one output pixel in input pixels, from the layer list (deepest path)."""
    if isinstance(generator, UNetGenerator):
        depth = generator.config.depth
        return field_of_view([("conv", 4, 2)] * depth + [("up", 4, 2)] * depth)
    fov = getattr(generator, "field_of_view", None)
    return int(fov) if fov is not None else None


def _millions(module: nn.Module) -> str:
    return f"{sum(t.numel() for t in module.parameters()) / 1e6:.2f}M parameters"


def describe(generator: nn.Module, discriminator: nn.Module, p: TrainParams) -> str:
    """One line: each network's class, size and field of view (and the requested one)."""
    g_fov, d_fov = generator_fov(generator), getattr(discriminator, "receptive_field", None)
    g_req = (
        f", {p.generator.fov} px requested"
        if p.generator.arch == "seed002" and p.generator.fov
        else ""
    )
    d_req = (
        f", {p.discriminator.fov} px requested"
        if p.discriminator.arch == "seed002" and p.discriminator.fov
        else ""
    )
    g_text = f"field of view {g_fov} px{g_req}" if g_fov is not None else "field of view n/a"
    d_text = f"field of view {d_fov} px{d_req}" if d_fov is not None else "sees the whole image"
    return (
        f"generator {type(generator).__name__} ({_millions(generator)}, {g_text}); "
        f"discriminator {type(discriminator).__name__} ({_millions(discriminator)}, {d_text})"
    )


def training_samples(shards: Path, task: str = "exposure") -> int:
    """What one epoch passes over, from ``<shards>/index.json``: the training pairs
    (``pair_counts.train``: a seed's epoch visits each input image once) for the exposure task,
    the clean photos (``counts.train``) for super-resolution, whose pairs are made from them."""
    index = shards / "index.json"
    key = "counts" if task == "sr" else "pair_counts"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        return int(data[key]["train"])
    except FileNotFoundError as err:
        raise UserError(f"{index}: no shard index; run `prep shard` first") from err
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{index}: no training-sample count ({key}.train): {err}") from err


def resolve_steps(p: TrainParams, shards: Path) -> TrainParams:
    """``p`` with ``steps`` set from ``epochs`` when ``epochs > 0``: one epoch is one pass over
    the training samples of the shard index (``training_samples``), so
    steps = ceil(epochs * samples / batch_size)."""
    if p.epochs < 0:
        raise UserError(f"train.epochs must be >= 0, got {p.epochs}")
    if p.epochs == 0:
        return p
    samples = training_samples(shards, p.task)
    steps = max(1, math.ceil(p.epochs * samples / p.batch_size))
    return dataclasses.replace(p, steps=steps)


def task_input(inputs: torch.Tensor, targets: torch.Tensor, p: TrainParams) -> torch.Tensor:
    """The generator's input for a batch: the pair's input (``task: exposure``), or, for
    ``task: sr``, the clean target degraded by ``train.sr`` (the super-resolution pair is made
    from the clean photo, as seed 003 makes its own)."""
    if p.task == "exposure":
        return inputs
    return degrade(targets, p.sr.scale, p.sr.degradation)


def check_task(p: TrainParams) -> None:
    """Settings a task needs, checked before any data is read."""
    if p.task != "sr":
        return
    if p.sr.scale < 2:
        raise ModelParamsError(f"train.sr.scale must be >= 2, got {p.sr.scale}")
    if p.crop % p.sr.scale:
        raise ModelParamsError(
            f"train.crop ({p.crop}) must be a multiple of train.sr.scale ({p.sr.scale})"
        )
    if p.discriminator.arch != "seed003":
        raise ModelParamsError(
            "train.task sr needs an unconditional discriminator (train.discriminator.arch: "
            f"seed003): input and output sizes differ; got {p.discriminator.arch!r}"
        )
