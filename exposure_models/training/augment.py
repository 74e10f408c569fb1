"""Augmentations the seeds use beyond flips and crops: a square resize (seed 000's
``A.Resize(256, 256)``) and a hue shift (albumentations' ``ColorJitter(hue=0.2)``, seeds 000,
001 and 003).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


def square_resize(codes: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) uint8/uint16 codes -> (side, side, 3), aspect not kept, bilinear (OpenCV's
    INTER_LINEAR, albumentations' default for ``Resize``)."""
    if codes.ndim != 3 or codes.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) codes, got {codes.shape}")
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}")
    return cv2.resize(codes, (side, side), interpolation=cv2.INTER_LINEAR)


def shift_hue(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each image by ``shifts[b]`` turns (0.2 = 72 degrees).

    Args:
        images: (B, 3, H, W) float RGB in [0, 1].
        shifts: (B,) hue shifts in turns; 0 leaves an image unchanged.
    Returns:
        (B, 3, H, W) float RGB in [0, 1]; value and saturation are kept.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    if shifts.shape != (images.shape[0],):
        raise ValueError(f"shifts must be ({images.shape[0]},), got {tuple(shifts.shape)}")
    r, g, b = images.unbind(1)
    v, _ = images.max(1)
    c = v - images.min(1).values
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(
        v == r, ((g - b) / safe) % 6, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    h = (h + shifts.to(images.dtype).view(-1, 1, 1)) % 1.0
    # HSV -> RGB: each channel is v - c * clamp(min(k, 4 - k), 0, 1) with k = (n + 6h) mod 6
    out = []
    for n in (5.0, 3.0, 1.0):
        k = (n + h * 6) % 6
        out.append(v - c * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(out, 1).clamp_(0, 1)
