"""The super-resolution model (``prep train --task sr``) applied to whole photos.

The network runs on tiles of the low-resolution image with a margin of context on every side
(cut away from the result), so memory follows the tile, not the photo; tiles meet without seams
as long as the margin covers the network's reach. Images are float32 (H, W, 3) RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exposure_core import imageio
from exposure_models.checkpoint import CheckpointError, load_generator
from exposure_models.runtime import pick_device
from exposure_models.seednets.registry import SR_ARCHS, arch_of
from exposure_models.seednets.sr import degrade

TILE = 192  # low-resolution tile side
MARGIN = 16  # context on each side of a tile, low-resolution pixels


@dataclass
class Upscaler:
    model: nn.Module
    device: torch.device
    scale: int
    degradation: str  # how its training pairs were made (``train.sr.degradation``)

    @classmethod
    def load(cls, path: Path, device: str = "auto") -> Upscaler:
        """Load an SR generator checkpoint; ``CheckpointError`` for an exposure model."""
        model, extra = load_generator(path, map_location="cpu")
        if arch_of(model) not in SR_ARCHS:
            raise CheckpointError(
                f"{path}: a {arch_of(model)} exposure model, not a super-resolution one "
                f"({', '.join(SR_ARCHS)}); train one with `prep train --preset sr_demo`"
            )
        sr = dict((extra.get("train") or {}).get("sr") or {})
        dev = pick_device(device)
        return cls(
            model.to(dev).eval(), dev, int(model.scale), str(sr.get("degradation", "bicubic"))
        )

    def degrade(self, hr: np.ndarray) -> np.ndarray:
        """The low-resolution counterpart of (H, W, 3) ``hr`` (sides multiples of ``scale``),
        made as the training pairs were."""
        t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].float()
        return degrade(t, self.scale, self.degradation)[0].permute(1, 2, 0).numpy()

    @torch.inference_mode()
    def upscale(self, lr: np.ndarray) -> np.ndarray:
        """(h, w, 3) -> (h * scale, w * scale, 3), clipped to [0, 1]."""
        if lr.ndim != 3 or lr.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) image, got {lr.shape}")
        h, w = lr.shape[:2]
        s = self.scale
        out = np.empty((h * s, w * s, 3), np.float32)
        src = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32)).permute(2, 0, 1)[None]
        for top in range(0, h, TILE):
            for left in range(0, w, TILE):
                bottom, right = min(top + TILE, h), min(left + TILE, w)
                t0, l0 = max(0, top - MARGIN), max(0, left - MARGIN)
                t1, l1 = min(h, bottom + MARGIN), min(w, right + MARGIN)
                tile = self.model(src[..., t0:t1, l0:l1].to(self.device)).float().clamp_(0, 1)
                tile = tile[0].permute(1, 2, 0).cpu().numpy()
                y0, x0 = (top - t0) * s, (left - l0) * s
                out[top * s : bottom * s, left * s : right * s] = tile[
                    y0 : y0 + (bottom - top) * s, x0 : x0 + (right - left) * s
                ]
        return out

    def upscale_codes(self, codes: imageio.Codes) -> imageio.Codes:
        """A photo's codes up-sampled, at the same bit depth."""
        return imageio.float_to_codes(self.upscale(imageio.codes_to_float(codes)), codes.bits)


def load_upscaler(upscale: tuple[int, Path], device: str = "auto") -> Upscaler:
    """The SR model of ``(factor, path)``, checked to up-sample by ``factor``."""
    factor, path = upscale
    upscaler = Upscaler.load(path, device)
    if upscaler.scale != factor:
        raise CheckpointError(f"{path}: up-samples x{upscaler.scale}, not x{factor} (--upscale)")
    return upscaler
