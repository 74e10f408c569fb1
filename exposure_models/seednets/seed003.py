"""Seed 003's networks (Jakir, Wang, Wang, Au, "Low-light image enhancement"), as listed.

Generator: three 3x3 stride-1 convolutions (3 -> 64 -> 128 -> 256), three 3x3 stride-1
transposed convolutions back (256 -> 128 -> 64 -> 3), ReLU after each but the last, the
encoder maps added (not concatenated) to the decoder inputs, a sigmoid on the output; no
normalisation. With ``color_space="ycrcb"`` (the seed's second choice, "we adapted YCrCb color
space instead") the network sees and emits YCrCb; the module converts at both ends, so its
interface stays RGB.

Discriminator: unconditional (the candidate image alone): adaptive average pooling to 64x64,
five 4x4 convolutions without bias (64, 128, 256, 512, 3 channels; batch norm on the middle
three; LeakyReLU 0.2 after the first four), then the seed's sigmoid. The module returns the
scores before that sigmoid and the loss applies it (binary cross-entropy on logits), which is
the same function with a stable gradient; the parameters are the seed's.

Images are (B, 3, H, W) RGB in [0, 1]; the seed feeds its networks [0, 1] tensors (ToTensor,
no normalisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exposure_models.blocks import rgb_to_ycrcb, ycrcb_to_rgb
from exposure_models.config import Seed003DiscriminatorConfig, Seed003GeneratorConfig
from exposure_models.fov import field_of_view

POOLED = 64  # the discriminator's AdaptiveAvgPool2d((64, 64))


class Seed003Body(nn.Module):
    """The seed's ``Generator`` on (B, 3, H, W) tensors in its own colour space, returning the
    sigmoid output; any H, W."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(w, 2 * w, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(2 * w, 4 * w, kernel_size=3, padding=1)
        self.tconv1 = nn.ConvTranspose2d(4 * w, 2 * w, kernel_size=3, padding=1)
        self.tconv2 = nn.ConvTranspose2d(2 * w, w, kernel_size=3, padding=1)
        self.tconv3 = nn.ConvTranspose2d(w, 3, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x = F.relu(self.tconv1(x3))
        x = F.relu(self.tconv2(x + x2))
        x = self.tconv3(x + x1)
        return torch.sigmoid(x)


class Seed003Generator(nn.Module):
    """``forward(x)``: (B, 3, H, W) RGB [0, 1] -> same, any H, W."""

    config_type = Seed003GeneratorConfig
    multiple = 1
    model_range = 1.0  # sigmoid output

    def __init__(self, config: Seed003GeneratorConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else Seed003GeneratorConfig()
        self.config = cfg
        self.body = Seed003Body(cfg.width)

    @property
    def field_of_view(self) -> int:
        return field_of_view([("conv", 3, 1)] * 6)  # 13 px

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(
                f"expected a float (B, 3, H, W) tensor, got {x.dtype} {tuple(x.shape)}"
            )
        if self.config.color_space == "rgb":
            return self.body(x)
        # Out-of-gamut YCrCb triples are clipped; the other channels still carry gradient.
        return ycrcb_to_rgb(self.body(rgb_to_ycrcb(x))).clamp(0.0, 1.0)


class Seed003Discriminator(nn.Module):
    """Unconditional: ``forward(x, y)`` scores the candidate ``y`` alone ((B, 3, H, W) RGB
    [0, 1]; ``x``, the generator's input, is accepted for the shared training step and
    ignored). Returns (B, outputs, 1, 1) logits."""

    conditional = False

    def __init__(self, config: Seed003DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else Seed003DiscriminatorConfig()
        self.config = cfg
        w = cfg.width
        self.main = nn.Sequential(
            nn.AdaptiveAvgPool2d((POOLED, POOLED)),
            nn.Conv2d(3, w, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 8 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(8 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8 * w, cfg.outputs, 4, 1, 0, bias=False),
        )

    # No ``receptive_field``: the pooling to 64 x 64 makes each score depend on the whole image.

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 4 or y.shape[1] != 3:
            raise ValueError(f"y must be (B, 3, H, W), got {tuple(y.shape)}")
        if self.config.color_space == "ycrcb":
            y = rgb_to_ycrcb(y)
        return self.main(y)
