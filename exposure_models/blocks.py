"""Building blocks shared by the generator and the discriminator, and the YCrCb conversion.

Tensors are ``(B, C, H, W)`` float; images are RGB in [0, 1] unless stated.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from exposure_models.config import NORMS

Norm = Literal["batch", "instance", "none"]
INIT_STD = 0.02  # pix2pix / DCGAN initialisation: N(0, 0.02) weights


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer: ``"batch"``, ``"instance"`` (pix2pix: no affine, no running
    stats) or ``"none"`` (identity)."""
    if kind == "batch":
        layer = nn.BatchNorm2d(channels)
        if not layer.weight.is_meta:  # meta tensors (size-only models) hold nothing to draw
            nn.init.normal_(layer.weight, 1.0, INIT_STD)
        return layer
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation of ``module.weight`` when ``enabled`` (seed 002: on every conv)."""
    return spectral_norm(module) if enabled else module


def init_conv_(conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
    """In place: N(0, 0.02) weights, zero bias. Call before ``maybe_spectral``."""
    if conv.weight.is_meta:  # meta tensors (size-only models) hold nothing to draw
        return
    nn.init.normal_(conv.weight, 0.0, INIT_STD)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class NoiseInjection(nn.Module):
    """Adds ``weight[c] * n[b, y, x]`` with ``n ~ N(0, 1)``: one sample per pixel, shared by all
    channels (StyleGAN), scaled by a learned per-channel weight that starts at 0 so a fresh model
    behaves as if it had no noise.

    Active in training mode; in eval mode only when ``enabled_in_eval`` is set, so inference is
    deterministic by default.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.enabled_in_eval = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.enabled_in_eval):
            return x
        b, _, h, w = x.shape
        noise = torch.randn(b, 1, h, w, device=x.device, dtype=x.dtype)
        return x + self.weight.to(x.dtype) * noise


class ConvBlock(nn.Module):
    """4x4 stride-2 conv (``down``) or transposed conv (up) -> [noise] -> norm -> activation
    -> [dropout]. Halves or doubles H and W.

    The conv has a bias only when no BatchNorm follows it (BatchNorm's shift makes it redundant).
    Down convs pad by reflection, which keeps image borders free of the dark frame zero padding
    teaches the network to expect.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        down: bool,
        norm: str = "batch",
        act: Literal["leaky", "relu"] = "leaky",
        dropout: float = 0.0,
        noise: bool = False,
        spectral: bool = False,
    ) -> None:
        super().__init__()
        if act not in ("leaky", "relu"):
            raise ValueError(f"act must be 'leaky' or 'relu', got {act!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        bias = norm != "batch"
        if down:
            conv = nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=bias, padding_mode="reflect")
        else:
            conv = nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=bias)
        init_conv_(conv)
        self.conv = maybe_spectral(conv, spectral)
        self.noise = NoiseInjection(out_channels) if noise else nn.Identity()
        self.norm = norm_layer(norm, out_channels)
        self.act = nn.LeakyReLU(0.2) if act == "leaky" else nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.act(self.norm(self.noise(self.conv(x)))))


# OpenCV's COLOR_RGB2YCrCb for float images (BT.601 full range, chroma offset 0.5):
#   Y = 0.299 R + 0.587 G + 0.114 B,  Cr = 0.713 (R - Y) + 0.5,  Cb = 0.564 (B - Y) + 0.5
_KR, _KG, _KB, _CR, _CB = 0.299, 0.587, 0.114, 0.713, 0.564
_RGB2YCRCB = torch.tensor(
    [
        [_KR, _KG, _KB],
        [_CR * (1 - _KR), -_CR * _KG, -_CR * _KB],
        [-_CB * _KR, -_CB * _KG, _CB * (1 - _KB)],
    ],
    dtype=torch.float64,
)
# The exact inverse (not OpenCV's rounded 1.403/0.714/0.344/1.773), so a round trip is lossless.
_YCRCB2RGB = torch.linalg.inv(_RGB2YCRCB)
_OFFSET = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)


def _check_image_tensor(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")


def _apply_matrix(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(device=t.device, dtype=t.dtype), t)


def rgb_to_ycrcb(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) YCrCb (channel order Y, Cr, Cb) in [0, 1],
    matching ``cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)`` on float32 images."""
    _check_image_tensor(rgb, "rgb")
    offset = _OFFSET.to(device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
    return _apply_matrix(rgb, _RGB2YCRCB) + offset


def ycrcb_to_rgb(ycrcb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YCrCb (Y, Cr, Cb) -> (B, 3, H, W) RGB; the exact inverse of
    :func:`rgb_to_ycrcb`. Not clipped: YCrCb values outside the RGB gamut map outside [0, 1]."""
    _check_image_tensor(ycrcb, "ycrcb")
    offset = _OFFSET.to(device=ycrcb.device, dtype=ycrcb.dtype).view(1, 3, 1, 1)
    return _apply_matrix(ycrcb - offset, _YCRCB2RGB)
