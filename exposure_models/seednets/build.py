"""Networks and losses from their configs, for every architecture.

``build_models(generator, discriminator, init)`` returns the two modules; ``describe`` says what
was built (parameter counts and fields of view, computed from the layer lists) for ``prep
train`` to print. Each config is the one its network reads (``exposure_models.config``), so
nothing is copied field by field here: a plain ``{arch: class}`` table picks the network.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.utils import parametrize

from exposure_core.exposure import Encoding
from exposure_core.schema import ConfigError
from exposure_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    LossWeights,
    PatchConfig,
    UNetConfig,
)
from exposure_models.discriminator import PatchDiscriminator
from exposure_models.fov import field_of_view
from exposure_models.generator import UNetGenerator
from exposure_models.losses import PerceptualLoss
from exposure_models.seednets.losses import Eq5PerceptualLoss
from exposure_models.seednets.registry import GENERATORS
from exposure_models.seednets.seed002 import Seed002Discriminator
from exposure_models.seednets.seed003 import Seed003Discriminator

DISCRIMINATORS: dict[str, Any] = {"seed002": Seed002Discriminator, "seed003": Seed003Discriminator}


def build_generator(config: GeneratorConfig, encoding: Encoding | None = None) -> nn.Module:
    """The generator ``config.arch`` names; ``encoding`` is the curve of the training pairs,
    which the U-Net's gain output works in (the other networks have no gain output)."""
    if isinstance(config, UNetConfig):
        return UNetGenerator(config, encoding)
    return GENERATORS[config.arch](config)


def build_discriminator(config: DiscriminatorConfig) -> nn.Module:
    """The discriminator ``config.arch`` names."""
    if isinstance(config, PatchConfig):
        return PatchDiscriminator(config.n_layers, config.width, config.norm, config.spectral_norm)
    return DISCRIMINATORS[config.arch](config)


def pytorch_init_(module: nn.Module) -> None:
    """In place: PyTorch's default initialisation on every layer that has one (what a network
    gets when, as in seed 000's listing, nothing else initialises it)."""
    for m in module.modules():
        if parametrize.is_parametrized(m):
            raise ConfigError(
                "train.init",
                "pytorch is not available with spectral norm (the weights are parametrised); "
                "use train.init: native",
            )
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


def build_models(
    generator: GeneratorConfig,
    discriminator: DiscriminatorConfig,
    init: str = "native",
    encoding: Encoding | None = None,
) -> tuple[nn.Module, nn.Module]:
    """``(generator, discriminator)``, initialised natively or as PyTorch does (``init``)."""
    g, d = build_generator(generator, encoding), build_discriminator(discriminator)
    if init == "pytorch":
        pytorch_init_(g)
        pytorch_init_(d)
    return g, d


def build_perceptual(loss: LossWeights) -> PerceptualLoss | None:
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


def _requested(module: nn.Module) -> str:
    fov = getattr(getattr(module, "config", None), "fov", 0)
    return f", {fov} px requested" if isinstance(fov, int) and fov > 0 else ""


def describe(generator: nn.Module, discriminator: nn.Module) -> str:
    """One line: each network's class, size and field of view (and the requested one)."""
    g_fov, d_fov = generator_fov(generator), getattr(discriminator, "receptive_field", None)
    g_text = (
        f"field of view {g_fov} px{_requested(generator)}"
        if g_fov is not None
        else "field of view n/a"
    )
    d_text = (
        f"field of view {d_fov} px{_requested(discriminator)}"
        if d_fov is not None
        else "sees the whole image"
    )
    return (
        f"generator {type(generator).__name__} ({_millions(generator)}, {g_text}); "
        f"discriminator {type(discriminator).__name__} ({_millions(discriminator)}, {d_text})"
    )
