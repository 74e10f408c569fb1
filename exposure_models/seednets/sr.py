"""Super-resolution (seed 003's second stage): the degradation that makes training pairs and
the two upscaling generators.

Tensors are (B, 3, H, W) RGB in [0, 1], gamma-encoded. A generator maps a low-resolution image
(B, 3, h, w) to (B, 3, h * scale, w * scale).

- ``degrade``: the low-resolution half of a pair. ``"bicubic"`` is the SR convention
  (antialiased bicubic, as MATLAB's ``imresize``); ``"avgpool"`` is seed 003's own
  (``nn.AvgPool2d(kernel_size=scale, stride=scale)``).
- :class:`SeedSRGenerator`: seed 003's: the low-resolution image interpolated back to full size
  ("Do not alter the image size": average pooling then ``F.interpolate(..., mode='bilinear')``),
  then its three-convolution generator.
- :class:`RRDBGenerator`: the ESRGAN generator (Wang et al. 2018) the seed plans to move to:
  residual-in-residual dense blocks at low resolution, two nearest x2 + conv up-samplings.
  ``base="bicubic"`` adds the network's output to the bicubic up-sampling (its last conv starts
  at zero, so training starts from bicubic); ``"none"`` is ESRGAN's plain output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from exposure_models.config import UPSAMPLINGS, RRDBConfig, SeedSRConfig
from exposure_models.seednets.seed003 import Seed003Body

DEGRADATIONS = ("bicubic", "avgpool")


def degrade(hr: torch.Tensor, scale: int, kind: str = "bicubic") -> torch.Tensor:
    """(B, 3, H, W) [0, 1] -> (B, 3, H // scale, W // scale) [0, 1]; H and W must be multiples
    of ``scale``."""
    if hr.ndim != 4 or hr.shape[1] != 3:
        raise ValueError(f"hr must be (B, 3, H, W), got {tuple(hr.shape)}")
    h, w = hr.shape[-2:]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"H and W ({h} x {w}) must be multiples of the scale {scale}")
    if kind == "bicubic":
        lr = F.interpolate(
            hr, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False
        )
        return lr.clamp(0.0, 1.0)
    if kind == "avgpool":
        return F.avg_pool2d(hr, scale, scale)
    raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {kind!r}")


def upsample(lr: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """Interpolation up-sampling by ``scale`` ((B, 3, h, w) -> (B, 3, h*s, w*s)), clipped to
    [0, 1] (bicubic overshoots)."""
    if mode not in UPSAMPLINGS:
        raise ValueError(f"mode must be one of {UPSAMPLINGS}, got {mode!r}")
    kw = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(lr, scale_factor=scale, mode=mode, **kw).clamp(0.0, 1.0)


def _check_lr(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"expected a float (B, 3, h, w) tensor, got {x.dtype} {tuple(x.shape)}")


class SeedSRGenerator(nn.Module):
    """Seed 003's super-resolution generator (see the module docstring)."""

    config_type = SeedSRConfig
    multiple = 1
    model_range = 1.0

    def __init__(self, config: SeedSRConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else SeedSRConfig()
        self.config = cfg
        self.body = Seed003Body(cfg.width)

    @property
    def scale(self) -> int:
        return self.config.scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        _check_lr(lr)
        return self.body(upsample(lr, self.config.scale, self.config.upsampling))


def _scaled_kaiming_(conv: nn.Conv2d, scale: float = 0.1) -> None:
    """ESRGAN's initialisation: Kaiming normal weights times ``scale``, zero bias."""
    if conv.weight.is_meta:
        return
    nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
    conv.weight.data.mul_(scale)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each fed all earlier maps; output scaled by 0.2 and added to the input."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1) for i in range(5)
        )
        for conv in self.convs:
            _scaled_kaiming_(conv)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(maps, dim=1))
            if i < 4:
                maps.append(self.act(out))
        return x + 0.2 * out


class RRDB(nn.Module):
    """Three residual dense blocks inside one more scaled residual."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(nf, gc) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBGenerator(nn.Module):
    """ESRGAN's RRDBNet; ``forward``: (B, 3, h, w) -> (B, 3, h * scale, w * scale)."""

    config_type = RRDBConfig
    multiple = 1
    model_range = 1.0

    def __init__(self, config: RRDBConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else RRDBConfig()
        self.config = cfg
        nf = cfg.features
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.trunk = nn.Sequential(*(RRDB(nf, cfg.growth) for _ in range(cfg.blocks)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.ups = nn.ModuleList(
            nn.Conv2d(nf, nf, 3, 1, 1) for _ in range(int(math.log2(cfg.scale)))
        )
        self.hr_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2)
        if cfg.base == "bicubic" and not self.conv_last.weight.is_meta:
            nn.init.zeros_(self.conv_last.weight)  # starts as bicubic up-sampling exactly
            nn.init.zeros_(self.conv_last.bias)

    @property
    def scale(self) -> int:
        return self.config.scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        _check_lr(lr)
        fea = self.conv_first(lr)
        fea = fea + self.trunk_conv(self.trunk(fea))
        for conv in self.ups:
            fea = self.act(conv(F.interpolate(fea, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.act(self.hr_conv(fea)))
        if self.config.base == "bicubic":
            out = out + F.interpolate(
                lr, scale_factor=self.scale, mode="bicubic", align_corners=False
            )
        return out
