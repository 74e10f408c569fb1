"""Seed 002's networks (Le Jeune, "Image enhancement with GANs", sec. 3.1, 3.3, 4.3).

Generator: a U-Net of ``levels`` down-sampling blocks, each two stride-1 convolutions and one
2x2 max pooling; the up-sampling blocks mirror them with a 2x2 stride-2 transposed
convolution in place of the pooling, then the skip (concatenated, as the pix2pix U-Net the seed
builds on) and two stride-1 convolutions; a 1x1 output convolution and tanh. Batch norm on
every layer but the first and the last, spectral norm on every convolution, and noise
(:class:`~exposure_models.blocks.NoiseInjection`) after every convolution, the output one
included (sec. 3.3: "after each convolutional layer"). With 4 levels of 3x3 convolutions the
field of view is 140 px, the seed's best generator (Table 4).

Discriminator: the conditional PatchGAN with ``n_layers`` stride-2 4x4 convolutions and
``extra`` more stride-1 ones before the logit layer, so its field of view takes the seed's
values: 70 (3, 0), 94 (3, 1), 142 (4, 0) px (Table 3 says 140 for the last).

Images are (B, 3, H, W) RGB in [0, 1]; networks see them in [-1, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from exposure_models.blocks import NORMS, NoiseInjection, init_conv_, maybe_spectral, norm_layer
from exposure_models.config import NOISE_PLACES, PADDINGS
from exposure_models.seednets.config import NetConfig
from exposure_models.seednets.fov import Layer, field_of_view

D_KERNEL = 4
# The designs a requested field of view is chosen from (closest wins; ties: the seed's own
# 3x3 kernels, then fewer parameters).
G_LEVELS = range(1, 7)
G_KERNELS = (3, 5, 7)
D_LAYERS = range(1, 6)
D_EXTRA = range(0, 4)


@dataclass(frozen=True)
class Seed002GeneratorConfig(NetConfig):
    levels: int = 4
    width: int = 64  # channels of the first level, doubling per level up to width * max_mult
    max_mult: int = 8
    kernel: int = 3
    norm: str = "batch"
    spectral_norm: bool = True
    noise: str = "both"
    padding: str = "zeros"

    def __post_init__(self) -> None:
        self._check_ints("levels", "width", "max_mult", "kernel")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same-size stride-1 convs), got {self.kernel}")
        self._check_choice("norm", NORMS)
        self._check_choice("noise", NOISE_PLACES)
        self._check_choice("padding", PADDINGS)


def generator_layers(levels: int, kernel: int) -> list[Layer]:
    """The deepest path of the generator as ``(kind, kernel, stride)``."""
    down: list[Layer] = [("conv", kernel, 1), ("conv", kernel, 1), ("conv", 2, 2)]
    up: list[Layer] = [("up", 2, 2), ("conv", kernel, 1), ("conv", kernel, 1)]
    return down * levels + up * levels + [("conv", 1, 1)]


def generator_fov(levels: int, kernel: int) -> int:
    return field_of_view(generator_layers(levels, kernel))


def generator_design_for_fov(fov: int) -> tuple[int, int]:
    """``(levels, kernel)`` whose field of view is closest to ``fov`` px."""
    if fov < 1:
        raise ValueError(f"fov must be >= 1, got {fov}")
    designs = [(lv, k) for k in G_KERNELS for lv in G_LEVELS]
    return min(designs, key=lambda d: (abs(generator_fov(*d) - fov), d[1] != 3, d[1], d[0]))


class _Conv(nn.Module):
    """conv -> [noise] -> [norm] -> [activation]."""

    def __init__(
        self,
        conv: nn.Conv2d | nn.ConvTranspose2d,
        *,
        noise: bool,
        norm: str,
        act: str,
        spectral: bool,
    ) -> None:
        super().__init__()
        init_conv_(conv)
        self.conv = maybe_spectral(conv, spectral)
        self.noise = NoiseInjection(conv.out_channels) if noise else nn.Identity()
        self.norm = norm_layer(norm, conv.out_channels)
        acts = {"leaky": nn.LeakyReLU(0.2), "relu": nn.ReLU(), "none": nn.Identity()}
        self.act = acts[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.noise(self.conv(x))))


class Seed002Generator(nn.Module):
    """``forward(x)``: (B, 3, H, W) RGB [0, 1] -> same; H, W multiples of ``multiple``."""

    config_type = Seed002GeneratorConfig

    def __init__(self, config: Seed002GeneratorConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else Seed002GeneratorConfig()
        self.config = cfg
        k, pad = cfg.kernel, cfg.kernel // 2
        chans = [cfg.width * min(2**i, cfg.max_mult) for i in range(cfg.levels)]
        enc_noise = cfg.noise in ("encoder", "both")
        dec_noise = cfg.noise in ("decoder", "both")

        def conv(cin: int, cout: int, norm: str, act: str, noise: bool) -> _Conv:
            bias = norm != "batch"
            layer = nn.Conv2d(cin, cout, k, 1, pad, bias=bias, padding_mode=cfg.padding)
            return _Conv(layer, noise=noise, norm=norm, act=act, spectral=cfg.spectral_norm)

        self.down = nn.ModuleList()
        for i, c in enumerate(chans):
            cin = 3 if i == 0 else chans[i - 1]
            first_norm = "none" if i == 0 else cfg.norm  # no norm on the first layer
            self.down.append(
                nn.Sequential(
                    conv(cin, c, first_norm, "leaky", enc_noise),
                    conv(c, c, cfg.norm, "leaky", enc_noise),
                )
            )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for i in reversed(range(cfg.levels)):
            cin = chans[i] if i == cfg.levels - 1 else chans[i + 1]
            upconv = nn.ConvTranspose2d(cin, chans[i], 2, 2, bias=cfg.norm != "batch")
            self.up.append(
                _Conv(
                    upconv, noise=dec_noise, norm=cfg.norm, act="relu", spectral=cfg.spectral_norm
                )
            )
            self.merge.append(
                nn.Sequential(
                    conv(2 * chans[i], chans[i], cfg.norm, "relu", dec_noise),
                    conv(chans[i], chans[i], cfg.norm, "relu", dec_noise),
                )
            )
        out = nn.Conv2d(chans[0], 3, 1)
        self.head = _Conv(out, noise=dec_noise, norm="none", act="none", spectral=cfg.spectral_norm)

    @property
    def multiple(self) -> int:
        return 2**self.config.levels

    @property
    def model_range(self) -> float:
        return 2.0  # tanh

    @property
    def field_of_view(self) -> int:
        return generator_fov(self.config.levels, self.config.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(
                f"expected a float (B, 3, H, W) tensor, got {x.dtype} {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"H and W must be multiples of {self.multiple}, got {h} x {w}")
        x = x * 2 - 1
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return (torch.tanh(self.head(x)) + 1) / 2


@dataclass(frozen=True)
class Seed002DiscriminatorConfig(NetConfig):
    n_layers: int = 3
    extra: int = 0  # stride-1 convs added at the coarsest scale: +24 px each at 3 layers
    width: int = 64
    norm: str = "batch"
    spectral_norm: bool = True
    padding: str = "zeros"

    def __post_init__(self) -> None:
        self._check_ints("n_layers", "width")
        self._check_ints("extra", minimum=0)
        self._check_choice("norm", NORMS)
        self._check_choice("padding", PADDINGS)


def discriminator_plan(n_layers: int, extra: int, width: int) -> list[tuple[int, int, int, bool]]:
    """``(in, out, stride, normalised)`` per conv: the PatchGAN plan with ``extra`` stride-1
    convs before the logit layer."""
    chans = [width * min(2**i, 8) for i in range(n_layers + 1)]
    plan = [(6, chans[0], 2, False)]
    plan += [(chans[i - 1], chans[i], 2, True) for i in range(1, n_layers)]
    plan.append((chans[n_layers - 1], chans[n_layers], 1, True))
    plan += [(chans[n_layers], chans[n_layers], 1, True)] * extra
    plan.append((chans[n_layers], 1, 1, False))
    return plan


def discriminator_fov(n_layers: int, extra: int) -> int:
    plan = discriminator_plan(n_layers, extra, 1)
    return field_of_view([("conv", D_KERNEL, stride) for _, _, stride, _ in plan])


def discriminator_design_for_fov(fov: int) -> tuple[int, int]:
    """``(n_layers, extra)`` whose field of view is closest to ``fov`` px."""
    if fov < 1:
        raise ValueError(f"fov must be >= 1, got {fov}")
    designs = [(n, e) for n in D_LAYERS for e in D_EXTRA]
    return min(designs, key=lambda d: (abs(discriminator_fov(*d) - fov), d[1], d[0]))


class Seed002Discriminator(nn.Module):
    """Conditional: ``forward(x, y)`` with input ``x`` and candidate ``y`` (B, 3, H, W) RGB
    [0, 1]; (B, 1, h, w) scores, one per ``field_of_view``-sized patch (LSGAN: raw)."""

    conditional = True

    def __init__(self, config: Seed002DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else Seed002DiscriminatorConfig()
        self.config = cfg
        plan = discriminator_plan(cfg.n_layers, cfg.extra, cfg.width)
        layers: list[nn.Module] = []
        for i, (cin, cout, stride, normed) in enumerate(plan):
            last = i == len(plan) - 1
            norm = cfg.norm if normed else "none"
            conv = nn.Conv2d(
                cin, cout, D_KERNEL, stride, 1, bias=norm != "batch", padding_mode=cfg.padding
            )
            act = "none" if last else "leaky"
            layers.append(_Conv(conv, noise=False, norm=norm, act=act, spectral=cfg.spectral_norm))
        self.model = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        return discriminator_fov(self.config.n_layers, self.config.extra)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise ValueError(f"x and y must both be (B, 3, H, W), got {x.shape} and {y.shape}")
        return self.model(torch.cat([x, y], dim=1) * 2 - 1)


def replace(config: NetConfig, **changes: object) -> NetConfig:
    return dataclasses.replace(config, **changes)
