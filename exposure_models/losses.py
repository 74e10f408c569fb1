"""Adversarial, content and perceptual losses.

Images are (B, 3, H, W) RGB in [0, 1]; discriminator outputs are raw logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from exposure_models.config import GAN_LOSSES
from exposure_models.vgg import VGG19Features

# ReLU outputs after VGG-19 conv layers 1, 4, 7, 10, 13 (conv1_1, conv2_2, conv3_3, conv4_2,
# conv5_1): five maps a constant 3 convs apart, which also puts exactly one in each of VGG's
# five resolution blocks, so every scale from fine texture to layout is compared (seed 002:
# "5 feature maps, regularly spaced, out of the 16"). The net is cut after conv5_1.
PERCEPTUAL_TAPS = (1, 4, 7, 10, 13)


def gan_loss(logits: torch.Tensor, real: bool, kind: str = "bce") -> torch.Tensor:
    """Mean loss of discriminator ``logits`` against the label ``real`` (1) or fake (0).

    ``"bce"``: binary cross-entropy on the logits (pix2pix, seed 000). ``"lsgan"``: mean squared
    distance of the raw outputs to 1 or 0 (Mao et al., seed 002).
    """
    if kind not in GAN_LOSSES:
        raise ValueError(f"kind must be one of {GAN_LOSSES}, got {kind!r}")
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(logits, target)


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce"
) -> torch.Tensor:
    """Average of the real and fake terms, so D learns at half G's rate (pix2pix, seed 000)."""
    return (gan_loss(real_logits, True, kind) + gan_loss(fake_logits, False, kind)) / 2


def content_l1(pred: torch.Tensor, target: torch.Tensor, model_range: float) -> torch.Tensor:
    """Mean absolute error of two (B, 3, H, W) [0, 1] images, expressed in the generator's native
    range (``model_range`` = 2 for tanh): the seeds compute L1 on [-1, 1] tensors, so their
    lambda = 100 applies unchanged."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {target.shape}")
    return F.l1_loss(pred, target) * model_range


class PerceptualLoss(nn.Module):
    """Sum over VGG-19 feature maps of the L1 distance between the maps of ``pred`` and
    ``target`` normalised by the map's size (seed 002, eq. 5).

    Each term is a mean over C x H x W rather than eq. 5's 1/(W H) with a sum over channels:
    with 64 to 512 channels per map, only dividing by C too gives each map the same weight,
    which is what eq. 5 is there for. The target's features carry no gradient. The VGG follows
    the dtype and device of the input.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        taps: Sequence[int] = PERCEPTUAL_TAPS,
        random_init: bool = False,
    ) -> None:
        super().__init__()
        self.vgg = VGG19Features(weights, taps=taps, random_init=random_init)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
            raise ValueError(
                "pred and target must both be (B, 3, H, W), "
                f"got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        first = next(self.vgg.parameters())
        if first.device != pred.device or first.dtype != pred.dtype:
            self.vgg.to(device=pred.device, dtype=pred.dtype)
        with torch.no_grad():
            target_maps = self.vgg(target)
        pred_maps = self.vgg(pred)
        terms = [self.map_term(p, t) for p, t in zip(pred_maps, target_maps, strict=True)]
        return torch.stack(terms).sum()

    def map_term(self, pred_map: torch.Tensor, target_map: torch.Tensor) -> torch.Tensor:
        """One VGG map's term: the mean absolute difference over (B, C, H, W)."""
        return F.l1_loss(pred_map, target_map)
