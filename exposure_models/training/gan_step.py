"""One optimisation step of the conditional GAN: a discriminator update, then a generator update.

Shared by ``prep train`` and ``benchmarks/train.py`` so the benchmark times the real step.
Images are (B, 3, H, W) RGB in [0, 1] on the step's device.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from exposure_models.blocks import rgb_to_ycrcb
from exposure_models.config import LossWeights
from exposure_models.losses import PerceptualLoss, content_l1, discriminator_loss, gan_loss
from exposure_models.training.distributed import average_gradients

__all__ = ["GanStep", "LossWeights"]


@dataclass
class GanStep:
    """Holds the networks and optimisers; ``step(x, y, lr)`` runs one D and one G update.

    ``generator_fwd``/``discriminator_fwd`` may be wrapped (DDP, torch.compile); the plain
    modules are kept for ``model_range``, freezing D during the G update and gradient sync.
    """

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    weights: LossWeights
    amp_dtype: torch.dtype | None = None
    perceptual: PerceptualLoss | None = None
    world: int = 1
    generator_fwd: Any = None
    discriminator_fwd: Any = None

    def __post_init__(self) -> None:
        self.generator_fwd = self.generator_fwd or self.generator
        self.discriminator_fwd = self.discriminator_fwd or self.discriminator
        self.device_type = next(self.generator.parameters()).device.type

    def state_dict(self) -> dict[str, Any]:
        """Both networks, both optimisers and the grad scaler (tensors and plain values)."""
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (networks first, then their optimisers).

        The optimisers get copies: torch keeps the tensors it is given, which would tie this
        step's moments to the ones of the ``GanStep`` the state came from."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(copy.deepcopy(state["opt_g"]))
        self.opt_d.load_state_dict(copy.deepcopy(state["opt_d"]))
        self.scaler.load_state_dict(state["scaler"])

    def _autocast(self) -> torch.autocast:
        dtype = self.amp_dtype
        return torch.autocast(self.device_type, dtype=dtype, enabled=dtype is not None)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> dict[str, torch.Tensor]:
        """One update of both networks; returns detached losses and D outputs (tensors)."""
        for group in (*self.opt_g.param_groups, *self.opt_d.param_groups):
            group["lr"] = lr
        w, d_fwd = self.weights, self.discriminator_fwd

        # discriminator: real pairs towards 1, generated pairs towards 0
        with self._autocast():
            fake = self.generator_fwd(x)
            d_real = d_fwd(x, y)
            d_fake = d_fwd(x, fake.detach())
            loss_d = discriminator_loss(d_real, d_fake, w.gan)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        average_gradients(self.discriminator, self.world)
        self.scaler.step(self.opt_d)

        # generator: fool the frozen discriminator and stay close to the target
        self.discriminator.requires_grad_(False)
        with self._autocast():
            loss_gan = gan_loss(d_fwd(x, fake), True, w.gan)
            loss_l1 = content_l1(*_in_space(fake, y, w.content_space), self.generator.model_range)
            loss_g = w.gan_weight * loss_gan + w.l1_weight * loss_l1
            if self.perceptual is not None:
                loss_g = loss_g + w.perceptual_weight * self.perceptual(fake.float(), y)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.discriminator.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "loss_gan": loss_gan.detach(),
            "loss_l1": loss_l1.detach(),
            "d_real": torch.sigmoid(d_real.detach().float()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach().float()).mean(),
        }


def _in_space(
    fake: torch.Tensor, target: torch.Tensor, space: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images in the content loss's colour space ("rgb" as given, or "ycrcb")."""
    if space == "rgb":
        return fake, target
    if space == "ycrcb":
        return rgb_to_ycrcb(fake), rgb_to_ycrcb(target)
    raise ValueError(f"content_space must be 'rgb' or 'ycrcb', got {space!r}")
