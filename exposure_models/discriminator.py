"""Conditional PatchGAN discriminator (pix2pix, seed 000): one logit per overlapping patch."""

from __future__ import annotations

import torch
from torch import nn

from exposure_models.blocks import NORMS, init_conv_, maybe_spectral, norm_layer

KERNEL = 4


def conv_plan(n_layers: int, width: int = 64) -> list[tuple[int, int, int, bool]]:
    """The convs of a PatchGAN as ``(in_channels, out_channels, stride, normalised)``.

    ``n_layers`` stride-2 convs (the first without norm), one stride-1 conv, then a stride-1
    conv to one logit channel; channels double per layer up to ``8 * width``.
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    chans = [width * min(2**i, 8) for i in range(n_layers + 1)]
    plan = [(6, chans[0], 2, False)]
    plan += [(chans[i - 1], chans[i], 2, True) for i in range(1, n_layers)]
    plan.append((chans[n_layers - 1], chans[n_layers], 1, True))
    plan.append((chans[n_layers], 1, 1, False))
    return plan


def _field(kernels_strides: list[tuple[int, int]]) -> int:
    # Walk back from one output unit: each conv widens the window to (r - 1) * stride + kernel.
    r = 1
    for kernel, stride in reversed(kernels_strides):
        r = (r - 1) * stride + kernel
    return r


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the input window one output logit sees (3 layers -> 70, as pix2pix)."""
    return _field([(KERNEL, stride) for _, _, stride, _ in conv_plan(n_layers)])


class PatchDiscriminator(nn.Module):
    """``forward(x, y)``: input ``x`` and candidate ``y``, both (B, 3, H, W) RGB in [0, 1];
    returns (B, 1, h, w) logits (real > 0), one per ``receptive_field``-sized patch."""

    def __init__(
        self,
        n_layers: int = 3,
        width: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.config = {
            "n_layers": n_layers,
            "width": width,
            "norm": norm,
            "spectral_norm": spectral_norm,
        }
        plan = conv_plan(n_layers, width)
        layers: list[nn.Module] = []
        for k, (in_ch, out_ch, stride, normed) in enumerate(plan):
            last = k == len(plan) - 1
            bias = not (normed and norm == "batch")
            conv = nn.Conv2d(in_ch, out_ch, KERNEL, stride, 1, bias=bias, padding_mode="reflect")
            init_conv_(conv)
            layers.append(maybe_spectral(conv, spectral_norm))
            if normed:
                layers.append(norm_layer(norm, out_ch))
            if not last:
                layers.append(nn.LeakyReLU(0.2))
        self.model = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """Receptive field of one logit, from the convs actually built."""
        convs = [m for m in self.model if isinstance(m, nn.Conv2d)]
        return _field([(m.kernel_size[0], m.stride[0]) for m in convs])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise ValueError(
                f"x and y must both be (B, 3, H, W), got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        # Same [-1, 1] convention as the seeds' data pipeline.
        return self.model(torch.cat([x, y], dim=1) * 2 - 1)
