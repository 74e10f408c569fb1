"""pix2pix U-Net generator (seeds 000/001) with the seed 002/003 options.

Interface: ``forward(x)`` takes (B, 3, H, W) RGB in [0, 1] and returns (B, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exposure_core.exposure import Encoding
from exposure_models.blocks import (
    ConvBlock,
    init_conv_,
    maybe_spectral,
    rgb_to_ycrcb,
    ycrcb_to_rgb,
)
from exposure_models.config import UNetConfig
from exposure_models.curves import exposure_gain
from exposure_models.global_exposure import GlobalExposure

DROPOUT_BLOCKS = 3  # pix2pix: dropout in the three innermost decoder blocks only


class UNetGenerator(nn.Module):
    """Encoder of ``depth`` 4x4 stride-2 convs, a mirrored decoder of transposed convs, skip
    connections by concatenation. No norm on the outermost encoder layer nor on the bottleneck
    (a 1 x 1 map at 256 x 256, which instance norm would erase)."""

    config_type = UNetConfig

    def __init__(self, config: UNetConfig | None = None, encoding: Encoding | None = None) -> None:
        """``encoding``: the transfer curve of the images (the synthesis curve), used by the
        ``skip="gain"`` output and stored in the checkpoint; default gamma 2.2."""
        super().__init__()
        cfg = config if config is not None else UNetConfig()
        self.config = cfg
        self.encoding = encoding if encoding is not None else Encoding()
        chans = [cfg.width * min(2**i, cfg.max_mult) for i in range(cfg.depth)]
        enc_noise = cfg.noise in ("encoder", "both")
        dec_noise = cfg.noise in ("decoder", "both")
        common = {"spectral": cfg.spectral_norm}

        self.encoder = nn.ModuleList()
        for i, out_ch in enumerate(chans):
            outermost, innermost = i == 0, i == cfg.depth - 1
            self.encoder.append(
                ConvBlock(
                    3 if outermost else chans[i - 1],
                    out_ch,
                    down=True,
                    norm="none" if outermost or innermost else cfg.norm,
                    act="relu" if innermost else "leaky",
                    noise=enc_noise,
                    **common,
                )
            )
        # Decoder block j mirrors encoder level depth-2-j; its input is the previous output
        # concatenated with that level's skip (the bottleneck output alone for j = 0).
        self.decoder = nn.ModuleList()
        for j in range(cfg.depth - 1):
            level = cfg.depth - 2 - j
            in_ch = chans[-1] if j == 0 else 2 * chans[level + 1]
            self.decoder.append(
                ConvBlock(
                    in_ch,
                    chans[level],
                    down=False,
                    norm=cfg.norm,
                    act="relu",
                    dropout=cfg.dropout if j < DROPOUT_BLOCKS else 0.0,
                    noise=dec_noise,
                    **common,
                )
            )
        # No noise on the output conv: it would only add pixel noise to the image itself.
        head = nn.ConvTranspose2d(2 * chans[0], 3, 4, 2, 1)
        init_conv_(head)
        self.head = maybe_spectral(head, cfg.spectral_norm)
        # Seed 000's bottleneck conv sets no padding mode (zeros); the others pad by reflection.
        self.encoder[-1].conv.padding_mode = cfg.bottleneck_padding
        self.global_exposure = None
        if cfg.global_branch != "none":
            pooled = chans[-1] if cfg.global_branch == "pooled" else 0
            self.global_exposure = GlobalExposure(
                cfg.global_bins, cfg.global_width, cfg.max_stops, pooled
            )

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return 2**self.config.depth

    @property
    def model_range(self) -> float:
        """Width of the native output range: 2.0 for tanh ([-1, 1]), 1.0 for sigmoid ([0, 1])."""
        return 2.0 if self.config.output == "tanh" else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB [0, 1] -> (B, 3, H, W) RGB [0, 1]; H, W multiples of ``multiple``."""
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(
                f"expected a float (B, 3, H, W) tensor, got {x.dtype} {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"H and W must be multiples of 2**depth = {self.multiple}, got {h} x {w}; "
                "use predict_padded() for other sizes"
            )
        cfg = self.config
        source = x
        if cfg.color_space == "ycrcb":
            x = rgb_to_ycrcb(x)
        if cfg.output == "tanh":
            x = x * 2 - 1  # the seeds feed tanh models with [-1, 1]
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        deepest = skips.pop()  # the bottleneck output is not a skip
        for block in self.decoder:
            x = torch.cat([block(x), skips.pop()], dim=1)
        x = self.head(x)
        if cfg.skip == "residual":
            return (source + torch.tanh(x)).clamp(0.0, 1.0)
        if cfg.skip == "gain":
            stops = cfg.max_stops * torch.tanh(x)
            if self.global_exposure is not None:
                stops = stops + self.global_exposure(source, deepest)
            return exposure_gain(source, stops, self.encoding)
        out = (torch.tanh(x) + 1) / 2 if cfg.output == "tanh" else torch.sigmoid(x)
        if cfg.color_space == "ycrcb":
            # Some YCrCb triples lie outside the RGB gamut; clipping stops the gradient only in
            # those channels, the others still train luma and chroma.
            out = ycrcb_to_rgb(out).clamp(0.0, 1.0)
        return out


def predict_padded(model: UNetGenerator, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` on a (B, 3, H, W) RGB [0, 1] tensor of any H, W: pad bottom/right to the next
    multiple of ``model.multiple`` (reflect; replicate where the pad is not smaller than the side),
    run, crop back. Gradient mode is the caller's choice (wrap in ``torch.no_grad()``)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    m = model.multiple
    pad_h, pad_w = -h % m, -w % m
    if pad_w:
        x = F.pad(x, (0, pad_w, 0, 0), mode="reflect" if pad_w < w else "replicate")
    if pad_h:
        x = F.pad(x, (0, 0, 0, pad_h), mode="reflect" if pad_h < h else "replicate")
    return model(x)[..., :h, :w]
