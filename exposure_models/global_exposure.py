"""Image-level exposure estimate: the global branch beside the generator's local U-Net path.

A synthetic exposure error of the pipeline (seed 002's tau clipping, an EV shift) is one gain
in linear light for the whole photo, plus clipping. What tells how large that gain was is
image-wide: how much of the photo sits at the top code, whether any highlight is left, where
the histogram's mass lies. A U-Net trained on crops learns those cues only through its
receptive field and ties them to the scenes it saw; this branch reads them directly, from
histograms that do not depend on the scene's layout or on the image size, and predicts one
exposure change (in stops) for the photo.

Input images are (B, 3, H, W) RGB in [0, 1], gamma-encoded. The output is (B, 1, 1, 1) stops.
"""

from __future__ import annotations

import torch
from torch import nn

from exposure_core.exposure import LUMA_WEIGHTS
from exposure_models.config import GLOBAL_BRANCHES

__all__ = ["GLOBAL_BRANCHES", "GlobalExposure", "feature_count", "histogram_features"]
TOP_CODE = 254.5 / 255.0  # at or above: the top 8-bit code (clipped)
CLIP_FEATURES = 4  # fraction clipped in R, G, B and in all three channels
# Upper quantiles, read as log2 of the encoded value: an EV shift moves each of them by the
# same amount (until it clips), so the size of a shift is a difference of these features.
QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
LOG_FLOOR = 1.0 / 255.0  # keeps log2 finite on black
QUANTILE_SAMPLES = 65536  # quantiles of larger images come from an even subsample


def feature_count(bins: int) -> int:
    """Length of :func:`histogram_features` for ``bins`` bins."""
    return 4 * bins + CLIP_FEATURES + 2 * len(QUANTILES)


def _histogram(values: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, N) values in [0, 1] -> (B, bins) fractions of the values in each equal-width bin."""
    index = (values * bins).long().clamp_(0, bins - 1)
    counts = torch.zeros(values.shape[0], bins, device=values.device, dtype=torch.float32)
    counts.scatter_add_(1, index, torch.ones_like(index, dtype=torch.float32))
    return counts / values.shape[1]


def histogram_features(images: torch.Tensor, bins: int) -> torch.Tensor:
    """Layout-free exposure statistics of each image.

    Args:
        images: (B, 3, H, W) RGB in [0, 1], gamma-encoded.
        bins: histogram bins over [0, 1].
    Returns:
        (B, feature_count(bins)) float32: for the brightest channel and for the luma, the square
        root of the bin fractions (small fractions, such as a few highlights, stay visible) and
        the cumulative fractions (the quantiles, read sideways); the fraction of pixels at
        the top code in R, G, B and in all three at once; then log2 of the ``QUANTILES`` of
        the brightest channel and of the luma.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    x = images.detach().float().clamp(0.0, 1.0).flatten(2)  # (B, 3, N)
    brightest = x.amax(1)
    weights = torch.tensor([float(w) for w in LUMA_WEIGHTS], device=x.device).view(1, 3, 1)
    luma = (x * weights).sum(1)
    parts = []
    for plane in (brightest, luma):
        hist = _histogram(plane, bins)
        parts += [hist.sqrt(), hist.cumsum(1)]
    clipped = x >= TOP_CODE
    parts += [clipped.float().mean(2), clipped.all(1).float().mean(1, keepdim=True)]
    q = torch.tensor(QUANTILES, device=x.device)
    step = max(1, brightest.shape[1] // QUANTILE_SAMPLES)
    for plane in (brightest, luma):
        quantiles = torch.quantile(plane[:, ::step], q, dim=1).T  # (B, len(QUANTILES))
        parts.append(torch.log2(quantiles + LOG_FLOOR))
    return torch.cat(parts, 1)


class GlobalExposure(nn.Module):
    """Histogram features (and, with ``pooled_channels``, the mean of a deep U-Net feature
    map) -> a small MLP -> one exposure change in stops per image, within +-``max_stops``.

    The last layer starts at zero, so a fresh branch changes nothing (identity).
    """

    def __init__(self, bins: int, width: int, max_stops: float, pooled_channels: int = 0) -> None:
        super().__init__()
        if width < 1 or pooled_channels < 0:
            raise ValueError(f"need width >= 1, pooled_channels >= 0: {width}, {pooled_channels}")
        self.bins = bins
        self.max_stops = float(max_stops)
        self.pooled_channels = pooled_channels
        last = nn.Linear(width, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(
            nn.Linear(feature_count(bins) + pooled_channels, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2),
            last,
        )

    def forward(self, images: torch.Tensor, deep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) RGB [0, 1] (+ a (B, C, h, w) feature map when pooled) -> (B, 1, 1, 1)
        stops."""
        features = histogram_features(images, self.bins)
        if self.pooled_channels:
            if deep is None or deep.shape[1] != self.pooled_channels:
                raise ValueError(f"expected a feature map with {self.pooled_channels} channels")
            features = torch.cat([features, deep.float().mean((2, 3))], 1)
        stops = self.max_stops * torch.tanh(self.mlp(features.to(self.mlp[0].weight.dtype)))
        return stops.view(-1, 1, 1, 1)
