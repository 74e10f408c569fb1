"""Seed 002's perceptual loss as its eq. 5 writes it.

    L_perceptual = E_{x,y} sum_{i in C} 1 / (W_i H_i) * || phi_i(y) - phi_i(G(x)) ||_1

The L1 norm sums over a feature map's channels and pixels and the map's area divides it, so a
term is the per-pixel sum over channels of the absolute differences, averaged over pixels and
over the batch (the expectation): ``C_i`` times the mean over C x H x W. This keeps the balance
of the seed's weights (lambda_c = 50 on the L1 content loss, lambda_p = 100 on this).
"""

from __future__ import annotations

import torch

from exposure_models.losses import PerceptualLoss


class Eq5PerceptualLoss(PerceptualLoss):
    """Same VGG-19 taps and weights as :class:`PerceptualLoss`; only the normalisation is eq. 5
    (sum over channels / (W H)) instead of the mean over C x H x W."""

    def map_term(self, pred_map: torch.Tensor, target_map: torch.Tensor) -> torch.Tensor:
        return eq5_term(pred_map, target_map)


def eq5_term(pred_map: torch.Tensor, target_map: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) maps -> ``sum |pred - target| / (B H W)``: the L1 norm over C, H, W divided
    by the map's area, averaged over the batch."""
    b, _, h, w = pred_map.shape
    return (pred_map - target_map).abs().sum() / (b * h * w)
