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

import torch
from torch import nn

from exposure_models.blocks import NoiseInjection, init_conv_, maybe_spectral, norm_layer
from exposure_models.config import Seed002DiscriminatorConfig, Seed002GeneratorConfig
from exposure_models.fov import (
    D_KERNEL,
    seed002_discriminator_fov,
    seed002_discriminator_plan,
    seed002_generator_fov,
)


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
        return seed002_generator_fov(self.config.levels, self.config.kernel)

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


class Seed002Discriminator(nn.Module):
    """Conditional: ``forward(x, y)`` with input ``x`` and candidate ``y`` (B, 3, H, W) RGB
    [0, 1]; (B, 1, h, w) scores, one per ``field_of_view``-sized patch (LSGAN: raw)."""

    conditional = True

    def __init__(self, config: Seed002DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else Seed002DiscriminatorConfig()
        self.config = cfg
        plan = seed002_discriminator_plan(cfg.n_layers, cfg.extra, cfg.width)
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
        return seed002_discriminator_fov(self.config.n_layers, self.config.extra)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise ValueError(f"x and y must both be (B, 3, H, W), got {x.shape} and {y.shape}")
        return self.model(torch.cat([x, y], dim=1) * 2 - 1)
