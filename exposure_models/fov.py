"""Field of view (receptive field) of a chain of layers, computed from the layer list.

A layer is ``(kind, kernel, stride)`` with kind ``"conv"`` (a convolution or pooling window:
``kernel`` taps, every ``stride``-th position) or ``"up"`` (a transposed convolution that
multiplies the resolution by ``stride``). The field of view is the side, in input pixels, of
the window that one unit of the last feature map depends on (seed 002, Fig. 2), at the least
favourable alignment. For a U-Net it is taken along the deepest path (encoder, bottom,
decoder), the longest one through the net.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

LayerKind = Literal["conv", "up"]
Layer = tuple[LayerKind, int, int]


def field_of_view(layers: Sequence[Layer]) -> int:
    """Side in input pixels of the window one output unit sees.

    Walked back from one output unit, ``r`` consecutive units of a layer's output need:
    for a conv or pool window of ``k`` at stride ``s``, ``(r - 1) * s + k`` input units; for a
    transposed conv of kernel ``k`` and stride ``s``, ``(r + k - 2) // s + 1`` input units (the
    most that ``r`` consecutive output positions can touch). Exact for the stride-1 and pooling
    chains of seed 002 and for the PatchGAN (3 layers -> 70 px); checked against gradients.
    """
    r = 1
    for kind, kernel, stride in reversed(layers):
        if kernel < 1 or stride < 1:
            raise ValueError(f"kernel and stride must be >= 1, got {kind} {kernel}/{stride}")
        if kind == "conv":
            r = (r - 1) * stride + kernel
        elif kind == "up":
            r = (r + kernel - 2) // stride + 1
        else:
            raise ValueError(f"layer kind must be 'conv' or 'up', got {kind!r}")
    return r


# --- seed 002's designs: the layer lists of its networks and the design for a field of view --

D_KERNEL = 4  # seed 002's discriminator convs
# The designs a requested field of view is chosen from (closest wins; ties: the seed's own
# 3x3 kernels, then fewer parameters).
G_LEVELS = range(1, 7)
G_KERNELS = (3, 5, 7)
D_LAYERS = range(1, 6)
D_EXTRA = range(0, 4)


def seed002_generator_layers(levels: int, kernel: int) -> list[Layer]:
    """The deepest path of the generator as ``(kind, kernel, stride)``."""
    down: list[Layer] = [("conv", kernel, 1), ("conv", kernel, 1), ("conv", 2, 2)]
    up: list[Layer] = [("up", 2, 2), ("conv", kernel, 1), ("conv", kernel, 1)]
    return down * levels + up * levels + [("conv", 1, 1)]


def seed002_generator_fov(levels: int, kernel: int) -> int:
    return field_of_view(seed002_generator_layers(levels, kernel))


def seed002_generator_design(fov: int) -> tuple[int, int]:
    """``(levels, kernel)`` whose field of view is closest to ``fov`` px."""
    if fov < 1:
        raise ValueError(f"fov must be >= 1, got {fov}")
    designs = [(lv, k) for k in G_KERNELS for lv in G_LEVELS]
    return min(designs, key=lambda d: (abs(seed002_generator_fov(*d) - fov), d[1] != 3, d[1], d[0]))


def seed002_discriminator_plan(
    n_layers: int, extra: int, width: int
) -> list[tuple[int, int, int, bool]]:
    """``(in, out, stride, normalised)`` per conv: the PatchGAN plan with ``extra`` stride-1
    convs before the logit layer."""
    chans = [width * min(2**i, 8) for i in range(n_layers + 1)]
    plan = [(6, chans[0], 2, False)]
    plan += [(chans[i - 1], chans[i], 2, True) for i in range(1, n_layers)]
    plan.append((chans[n_layers - 1], chans[n_layers], 1, True))
    plan += [(chans[n_layers], chans[n_layers], 1, True)] * extra
    plan.append((chans[n_layers], 1, 1, False))
    return plan


def seed002_discriminator_fov(n_layers: int, extra: int) -> int:
    plan = seed002_discriminator_plan(n_layers, extra, 1)
    return field_of_view([("conv", D_KERNEL, stride) for _, _, stride, _ in plan])


def seed002_discriminator_design(fov: int) -> tuple[int, int]:
    """``(n_layers, extra)`` whose field of view is closest to ``fov`` px."""
    if fov < 1:
        raise ValueError(f"fov must be >= 1, got {fov}")
    designs = [(n, e) for n in D_LAYERS for e in D_EXTRA]
    return min(designs, key=lambda d: (abs(seed002_discriminator_fov(*d) - fov), d[1], d[0]))
