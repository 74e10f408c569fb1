"""The one schema of each learning component: generator, discriminator, loss weights.

Plain frozen dataclasses without torch, so ``pipeline/params.py`` builds them by keyword from
``params.yaml`` (``train.generator``, ``train.discriminator``, ``train.loss``) and the data stages
still never import torch. Each validates itself in ``__post_init__`` (``ValueError`` naming the
field); the params loader turns that into a ``ParamsError`` naming the dotted key, and a
checkpoint loader into a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

NORMS: tuple[str, ...] = ("batch", "instance", "none")
NOISE_PLACES = ("none", "encoder", "decoder", "both")
OUTPUTS = ("tanh", "sigmoid")
COLOR_SPACES = ("rgb", "ycrcb")
SKIPS = ("none", "residual", "gain")
GAN_LOSSES = ("bce", "lsgan")
GENERATOR_ARCHS = ("unet", "seed002", "seed003", "seed003_sr", "rrdb")
DISCRIMINATOR_ARCHS = ("patch", "seed002", "seed003")
PADDINGS = ("reflect", "zeros")
UPSAMPLINGS = ("bilinear", "bicubic", "nearest")
PERCEPTUAL_NORMS = ("mean", "eq5")
GLOBAL_BRANCHES = ("none", "histogram", "pooled")


def _int(obj: Any, name: str, low: int) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _number(obj: Any, name: str, low: float, low_open: bool = False) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < low or (low_open and value == low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")


def _choice(obj: Any, name: str, allowed: tuple[str, ...]) -> None:
    if getattr(obj, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(obj, name)!r}")


def _bool(obj: Any, name: str) -> None:
    if not isinstance(getattr(obj, name), bool):
        raise ValueError(f"{name} must be a bool, got {getattr(obj, name)!r}")


class _Plain:
    """``to_dict``/``from_dict`` for the config dataclasses (plain JSON types only)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class UNetConfig(_Plain):
    """Everything needed to rebuild a ``UNetGenerator`` (``train.generator`` in params.yaml)."""

    depth: int = 8  # stride-2 levels: 256 x 256 reaches 1 x 1 at depth 8
    width: int = 64  # channels of the first level; doubles per level up to width * max_mult
    max_mult: int = 8
    norm: Literal["batch", "instance", "none"] = "batch"
    spectral_norm: bool = False
    noise: Literal["none", "encoder", "decoder", "both"] = "none"  # NoiseInjection (seed 002)
    output: Literal["tanh", "sigmoid"] = "tanh"
    color_space: Literal["rgb", "ycrcb"] = "rgb"  # "ycrcb": in and out in YCrCb (seed 003)
    dropout: float = 0.5
    # What the output means. "none": the image itself (the seeds). "residual": added to the
    # input. "gain": a per-pixel, per-channel exposure change of the input in linear light,
    # within +-max_stops: the form of an EV shift or an unclipped overexposure, so a small
    # network learns it quickly (the identity is the starting point).
    skip: Literal["none", "residual", "gain"] = "none"
    max_stops: float = 4.0
    # Which network (``exposure_models.seednets.build``): "unet" is the U-Net above; the others
    # are the seeds' own generators and read only the fields they name below.
    arch: Literal["unet", "seed002", "seed003", "seed003_sr", "rrdb"] = "unet"
    bottleneck_padding: Literal["reflect", "zeros"] = "reflect"  # unet: seed 000's is zeros
    levels: int = 4  # seed002: down-sampling blocks (two stride-1 convs + 2x2 pooling each)
    kernel: int = 3  # seed002: conv kernel
    fov: int = 0  # seed002: field of view in px; > 0 picks levels/kernel closest to it
    upsampling: Literal["bilinear", "bicubic", "nearest"] = "bilinear"  # seed003_sr
    features: int = 64  # rrdb (ESRGAN nf)
    blocks: int = 23  # rrdb: residual-in-residual dense blocks
    growth: int = 32  # rrdb: dense-block growth channels (ESRGAN gc)
    base: Literal["none", "bicubic"] = "none"  # rrdb: add the output to bicubic up-sampling
    # An image-level exposure estimate added to the gain's stops (skip = "gain" only):
    # "histogram" reads layout-free histograms of the input (exposure_models.global_exposure),
    # "pooled" also the mean of the deepest encoder map. "none": the local path alone.
    global_branch: Literal["none", "histogram", "pooled"] = "none"
    global_bins: int = 32
    global_width: int = 64

    def __post_init__(self) -> None:
        for name, allowed in (
            ("arch", GENERATOR_ARCHS),
            ("bottleneck_padding", PADDINGS),
            ("upsampling", UPSAMPLINGS),
            ("base", ("none", "bicubic")),
            ("global_branch", GLOBAL_BRANCHES),
        ):
            _choice(self, name, allowed)
        for name in ("levels", "kernel", "features", "blocks", "growth"):
            _int(self, name, 1)
        _int(self, "fov", 0)
        _int(self, "global_bins", 2)
        _int(self, "global_width", 2)
        if self.global_branch != "none" and self.skip != "gain":
            raise ValueError(f"global_branch={self.global_branch!r} needs skip='gain'")
        _int(self, "depth", 2)
        _int(self, "width", 1)
        _int(self, "max_mult", 1)
        for name, allowed in (
            ("norm", NORMS),
            ("noise", NOISE_PLACES),
            ("output", OUTPUTS),
            ("color_space", COLOR_SPACES),
            ("skip", SKIPS),
        ):
            _choice(self, name, allowed)
        _bool(self, "spectral_norm")
        _number(self, "dropout", 0.0)
        if self.dropout >= 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.skip != "none" and self.output != "tanh":
            raise ValueError(f"skip={self.skip!r} needs output='tanh' (a signed correction)")
        _number(self, "max_stops", 0.0, low_open=True)


@dataclass(frozen=True)
class DiscriminatorConfig(_Plain):
    """The ``PatchDiscriminator`` arguments (``train.discriminator`` in params.yaml)."""

    n_layers: int = 3  # 3 -> 70 px receptive field
    width: int = 64
    norm: Literal["batch", "instance", "none"] = "batch"
    spectral_norm: bool = False
    # Which network: "patch" is the PatchGAN; the seeds' own read the fields they name.
    arch: Literal["patch", "seed002", "seed003"] = "patch"
    extra: int = 0  # seed002: stride-1 convs added before the logit layer (+24 px each at 3)
    fov: int = 0  # seed002: field of view in px; > 0 picks n_layers/extra closest to it
    color_space: Literal["rgb", "ycrcb"] = "rgb"  # seed003: the space it sees images in

    def __post_init__(self) -> None:
        _choice(self, "arch", DISCRIMINATOR_ARCHS)
        _choice(self, "color_space", COLOR_SPACES)
        _int(self, "extra", 0)
        _int(self, "fov", 0)
        _int(self, "n_layers", 1)
        _int(self, "width", 1)
        _choice(self, "norm", NORMS)
        _bool(self, "spectral_norm")


@dataclass(frozen=True)
class LossWeights(_Plain):
    """The generator objective ``gan_weight * GAN + l1_weight * L1 + perceptual_weight * VGG``
    (``train.loss`` in params.yaml)."""

    gan: Literal["bce", "lsgan"] = "bce"  # "bce" (pix2pix) or "lsgan"
    gan_weight: float = 1.0
    l1_weight: float = 100.0
    perceptual_weight: float = 0.0
    vgg_weights: str = ""  # path to torchvision's vgg19-dcbb9e7d.pth (needed when perceptual > 0)
    perceptual_norm: Literal["mean", "eq5"] = "mean"  # eq5: seed 002's sum over C / (W H)
    content_space: Literal["rgb", "ycrcb"] = "rgb"  # colour space of the L1 term (seed 003)

    def __post_init__(self) -> None:
        _choice(self, "gan", GAN_LOSSES)
        _choice(self, "perceptual_norm", PERCEPTUAL_NORMS)
        _choice(self, "content_space", COLOR_SPACES)
        for name in ("gan_weight", "l1_weight", "perceptual_weight"):
            _number(self, name, 0.0)
        if self.perceptual_weight > 0 and not self.vgg_weights:
            raise ValueError(
                "perceptual_weight > 0 needs vgg_weights (torchvision's vgg19-dcbb9e7d.pth)"
            )
