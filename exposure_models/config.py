"""One config per network: the fields that network reads, and no other.

Plain frozen dataclasses without torch, so ``pipeline.params`` builds them by keyword from
``params.yaml`` (``train.generator``, ``train.discriminator``, ``train.loss``) while the data
stages never import torch. A generator or discriminator config is picked by its ``arch`` field
(:data:`GeneratorConfig` and :data:`DiscriminatorConfig` are the tagged unions): a field that
the chosen network does not read is an unknown key, never silently ignored. Each config checks
its ranges with :func:`exposure_core.schema.check_fields` and raises
:class:`~exposure_core.schema.ConfigError` naming the field; checkpoints store ``to_dict()`` and
rebuild the network from it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from exposure_core.schema import AtLeast, Between, ConfigError, check_fields
from exposure_models.fov import seed002_discriminator_design, seed002_generator_design

Norm = Literal["batch", "instance", "none"]
ColorSpace = Literal["rgb", "ycrcb"]
Noise = Literal["none", "encoder", "decoder", "both"]
Padding = Literal["reflect", "zeros"]
GlobalBranch = Literal["none", "histogram", "pooled"]
Upsampling = Literal["bilinear", "bicubic", "nearest"]
GanLoss = Literal["bce", "lsgan"]
Positive = Annotated[int, AtLeast(1)]
NORMS: tuple[str, ...] = typing.get_args(Norm)
GLOBAL_BRANCHES: tuple[str, ...] = typing.get_args(GlobalBranch)
UPSAMPLINGS: tuple[str, ...] = typing.get_args(Upsampling)
GAN_LOSSES: tuple[str, ...] = typing.get_args(GanLoss)

_C = TypeVar("_C", bound="NetConfig")


@dataclass(frozen=True)
class NetConfig:
    """Base of every network config: checked at construction, plain JSON values."""

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[_C], data: dict[str, Any]) -> _C:
        """Build from a mapping; a key the network does not read is a ``ConfigError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                unknown[0], f"not a field of {cls.__name__}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)


# --- generators -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UNetConfig(NetConfig):
    """The pix2pix U-Net (``exposure_models.generator.UNetGenerator``), seeds 000/001, with the
    seed 002/003 options and the ``real`` preset's gain output and global branch."""

    arch: Literal["unet"] = "unet"
    depth: Annotated[int, AtLeast(2)] = 8  # stride-2 levels: 256 x 256 reaches 1 x 1 at 8
    width: Positive = 64  # channels of the first level; doubles per level up to width * max_mult
    max_mult: Positive = 8
    norm: Norm = "batch"
    spectral_norm: bool = False
    noise: Noise = "none"  # NoiseInjection (seed 002)
    output: Literal["tanh", "sigmoid"] = "tanh"
    color_space: ColorSpace = "rgb"  # "ycrcb": in and out in YCrCb (seed 003)
    dropout: Annotated[float, Between(0.0, 1.0, open_high=True)] = 0.5
    # What the output means. "none": the image itself (the seeds). "residual": added to the
    # input. "gain": a per-pixel, per-channel exposure change of the input in linear light,
    # within +-max_stops: the form of an EV shift or an unclipped overexposure, so a small
    # network learns it quickly (the identity is the starting point).
    skip: Literal["none", "residual", "gain"] = "none"
    max_stops: Annotated[float, AtLeast(0.0, strict=True)] = 4.0
    bottleneck_padding: Padding = "reflect"  # seed 000's bottleneck conv pads with zeros
    # An image-level exposure estimate added to the gain's stops (skip = "gain" only):
    # "histogram" reads layout-free histograms of the input (exposure_models.global_exposure),
    # "pooled" also the mean of the deepest encoder map. "none": the local path alone.
    global_branch: GlobalBranch = "none"
    global_bins: Annotated[int, AtLeast(2)] = 32
    global_width: Annotated[int, AtLeast(2)] = 64

    def __post_init__(self) -> None:
        check_fields(self)
        if self.global_branch != "none" and self.skip != "gain":
            raise ConfigError("global_branch", f"{self.global_branch!r} needs skip: gain")
        if self.skip != "none" and self.output != "tanh":
            raise ConfigError("skip", f"{self.skip!r} needs output: tanh (a signed correction)")


@dataclass(frozen=True)
class Seed002GeneratorConfig(NetConfig):
    """Seed 002's stride-1 U-Net with noise injection. ``fov > 0`` picks the ``levels`` and
    ``kernel`` whose field of view is closest to it (then neither may be set)."""

    arch: Literal["seed002"] = "seed002"
    levels: Positive = 4  # down-sampling blocks (two stride-1 convs + 2x2 pooling each)
    width: Positive = 64  # channels of the first level, doubling up to width * max_mult
    max_mult: Positive = 8
    kernel: Positive = 3
    norm: Norm = "batch"
    spectral_norm: bool = True
    noise: Noise = "both"
    padding: Padding = "zeros"
    fov: Annotated[int, AtLeast(0)] = 0  # field of view in px; 0: levels and kernel as given

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kernel % 2 == 0:
            raise ConfigError("kernel", f"must be odd (same-size convs), got {self.kernel}")
        if self.fov > 0:
            _resolve_fov(self, ("levels", "kernel"), seed002_generator_design(self.fov))


@dataclass(frozen=True)
class Seed003GeneratorConfig(NetConfig):
    """Seed 003's three-convolution generator."""

    arch: Literal["seed003"] = "seed003"
    width: Positive = 64  # channels of conv1; conv2 and conv3 have 2x and 4x
    color_space: ColorSpace = "ycrcb"


@dataclass(frozen=True)
class SeedSRConfig(NetConfig):
    """Seed 003's super-resolution generator (``train.task: sr``; ``scale`` is
    ``train.sr.scale``)."""

    arch: Literal["seed003_sr"] = "seed003_sr"
    scale: Annotated[int, AtLeast(2)] = 4
    width: Positive = 64
    upsampling: Upsampling = "bilinear"  # the seed's listing


@dataclass(frozen=True)
class RRDBConfig(NetConfig):
    """The ESRGAN generator (``train.task: sr``; ``scale`` = ``train.sr.scale``)."""

    arch: Literal["rrdb"] = "rrdb"
    scale: Annotated[int, AtLeast(2)] = 4  # a power of 2: one nearest x2 + conv per factor 2
    features: Positive = 64  # ESRGAN: nf = 64
    blocks: Positive = 23  # ESRGAN: 23 RRDBs
    growth: Positive = 32  # ESRGAN: gc = 32
    base: Literal["none", "bicubic"] = "none"  # add the output to bicubic up-sampling

    def __post_init__(self) -> None:
        check_fields(self)
        if self.scale & (self.scale - 1):
            raise ConfigError("scale", f"must be a power of 2, got {self.scale}")


# --- discriminators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchConfig(NetConfig):
    """The pix2pix PatchGAN (``exposure_models.discriminator.PatchDiscriminator``)."""

    arch: Literal["patch"] = "patch"
    n_layers: Positive = 3  # 3 -> 70 px receptive field
    width: Positive = 64
    norm: Norm = "batch"
    spectral_norm: bool = False


@dataclass(frozen=True)
class Seed002DiscriminatorConfig(NetConfig):
    """Seed 002's PatchGAN of settable field of view. ``fov > 0`` picks ``n_layers`` and
    ``extra`` (then neither may be set)."""

    arch: Literal["seed002"] = "seed002"
    n_layers: Positive = 3
    extra: Annotated[int, AtLeast(0)] = 0  # stride-1 convs before the logit: +24 px each at 3
    width: Positive = 64
    norm: Norm = "batch"
    spectral_norm: bool = True
    padding: Padding = "zeros"
    fov: Annotated[int, AtLeast(0)] = 0  # field of view in px; 0: n_layers and extra as given

    def __post_init__(self) -> None:
        check_fields(self)
        if self.fov > 0:
            _resolve_fov(self, ("n_layers", "extra"), seed002_discriminator_design(self.fov))


@dataclass(frozen=True)
class Seed003DiscriminatorConfig(NetConfig):
    """Seed 003's unconditional discriminator (sees one image, not a pair)."""

    arch: Literal["seed003"] = "seed003"
    width: Positive = 64
    outputs: Positive = 3  # the seed's last conv has 3 output channels
    color_space: ColorSpace = "ycrcb"  # the space the seed's data (and so its critic) is in


GeneratorConfig = (
    UNetConfig | Seed002GeneratorConfig | Seed003GeneratorConfig | SeedSRConfig | RRDBConfig
)
DiscriminatorConfig = PatchConfig | Seed002DiscriminatorConfig | Seed003DiscriminatorConfig
GENERATOR_CONFIGS: dict[str, type[NetConfig]] = {
    "unet": UNetConfig,
    "seed002": Seed002GeneratorConfig,
    "seed003": Seed003GeneratorConfig,
    "seed003_sr": SeedSRConfig,
    "rrdb": RRDBConfig,
}
DISCRIMINATOR_CONFIGS: dict[str, type[NetConfig]] = {
    "patch": PatchConfig,
    "seed002": Seed002DiscriminatorConfig,
    "seed003": Seed003DiscriminatorConfig,
}
SR_ARCHS = ("seed003_sr", "rrdb")  # generators that up-sample: train.task sr


def config_from_dict(
    configs: dict[str, type[NetConfig]], data: dict[str, Any], default: str
) -> NetConfig:
    """The config ``data["arch"]`` names (``default`` when absent), built from ``data``."""
    arch = data.get("arch", default)
    if arch not in configs:
        raise ConfigError("arch", f"must be one of {', '.join(configs)}, got {arch!r}")
    return configs[arch].from_dict(data)


def _resolve_fov(cfg: NetConfig, names: tuple[str, str], design: tuple[int, int]) -> None:
    """Set the two design fields from a field of view; they may not also be set by hand."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    for name, value in zip(names, design, strict=True):
        current = getattr(cfg, name)
        if current != defaults[name] and current != value:
            raise ConfigError(name, f"set fov or {' and '.join(names)}, not both")
        object.__setattr__(cfg, name, value)


# --- losses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossWeights(NetConfig):
    """The generator objective ``gan_weight * GAN + l1_weight * L1 + perceptual_weight * VGG``
    (``train.loss`` in params.yaml)."""

    gan: GanLoss = "bce"  # "bce" (pix2pix) or "lsgan"
    gan_weight: Annotated[float, AtLeast(0.0)] = 1.0
    l1_weight: Annotated[float, AtLeast(0.0)] = 100.0
    perceptual_weight: Annotated[float, AtLeast(0.0)] = 0.0
    vgg_weights: str = ""  # path to torchvision's vgg19-dcbb9e7d.pth (needed when perceptual > 0)
    perceptual_norm: Literal["mean", "eq5"] = "mean"  # eq5: seed 002's sum over C / (W H)
    content_space: ColorSpace = "rgb"  # colour space of the L1 term (seed 003)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.perceptual_weight > 0 and not self.vgg_weights:
            raise ConfigError(
                "vgg_weights",
                "needed when perceptual_weight > 0 (torchvision's vgg19-dcbb9e7d.pth)",
            )
