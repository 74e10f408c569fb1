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
