"""Transfer curves on tensors, with the constants of ``exposure_core.exposure`` (one definition).

Tensors are float, any shape, encoded values or linear light in [0, 1]. The functions are
differentiable everywhere (the unused branch of the piecewise sRGB curve is clamped so that its
gradient stays finite).
"""

from __future__ import annotations

import torch

from exposure_core.exposure import (
    SRGB_ENCODED_KNEE,
    SRGB_EXPONENT,
    SRGB_LINEAR_KNEE,
    SRGB_OFFSET,
    SRGB_SLOPE,
    Encoding,
)


def to_linear(x: torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """Encoded values in [0, 1] -> linear light in [0, 1] (``exposure_core.exposure.to_linear``)."""
    x = x.clamp(0.0, 1.0)
    if encoding.curve == "gamma":
        return x.pow(encoding.gamma)
    high = ((x.clamp_min(SRGB_ENCODED_KNEE) + SRGB_OFFSET) / (1 + SRGB_OFFSET)).pow(SRGB_EXPONENT)
    return torch.where(x <= SRGB_ENCODED_KNEE, x / SRGB_SLOPE, high)


def from_linear(light: torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """Linear light (clipped to [0, 1]) -> encoded values in [0, 1]."""
    light = light.clamp(0.0, 1.0)
    if encoding.curve == "gamma":
        return light.clamp_min(1e-12).pow(1.0 / encoding.gamma) * (light > 0)
    high = (1 + SRGB_OFFSET) * light.clamp_min(SRGB_LINEAR_KNEE).pow(
        1.0 / SRGB_EXPONENT
    ) - SRGB_OFFSET
    return torch.where(light <= SRGB_LINEAR_KNEE, light * SRGB_SLOPE, high)


def exposure_gain(x: torch.Tensor, stops: torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """Change the exposure of encoded ``x`` by ``stops`` (same shape) in linear light, clipped.

    With a power law, ``(light * 2**stops) ** (1/gamma) == x * 2**(stops/gamma)``: no decoding
    (the seed-002 case and the cheap path). The sRGB curve decodes, scales and re-encodes.
    """
    if encoding.curve == "gamma":
        return (x * torch.exp2(stops / encoding.gamma)).clamp(0.0, 1.0)
    return from_linear(to_linear(x, encoding) * torch.exp2(stops), encoding)
