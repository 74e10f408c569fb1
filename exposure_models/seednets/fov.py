"""Field of view (receptive field) of a chain of layers, computed from the layer list.

A layer is ``(kind, kernel, stride)`` with kind ``"conv"`` (a convolution or pooling window:
``kernel`` taps, every ``stride``-th position) or ``"up"`` (a transposed convolution that
multiplies the resolution by ``stride``). The field of view is the side, in input pixels, of
the window that one unit of the last feature map depends on (seed 002, Fig. 2). For a U-Net it
is taken along the deepest path (encoder, bottom, decoder), the longest one through the net.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

LayerKind = Literal["conv", "up"]
Layer = tuple[LayerKind, int, int]


def field_of_view(layers: Sequence[Layer]) -> int:
    """Side in input pixels of the window one output unit sees.

    Walked forward with the window ``r`` and the spacing ``j`` of the current map's units in
    input pixels: a conv or pool window of ``k`` adds ``(k - 1) * j`` and multiplies ``j`` by
    its stride; a transposed conv of kernel ``k`` and stride ``s`` makes each output unit depend
    on ``ceil(k / s)`` input units (adding ``(ceil(k / s) - 1) * j``) and divides ``j`` by ``s``.
    The spacing never falls below one pixel's worth of the coarsest position, so the result is
    exact for the stride-1 and pooling chains of seed 002 and the PatchGAN (3 layers -> 70 px).
    """
    r, j = 1.0, 1.0
    for kind, kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(f"kernel and stride must be >= 1, got {kind} {kernel}/{stride}")
        if kind == "conv":
            r += (kernel - 1) * j
            j *= stride
        elif kind == "up":
            r += (math.ceil(kernel / stride) - 1) * j
            j /= stride
        else:
            raise ValueError(f"layer kind must be 'conv' or 'up', got {kind!r}")
    return round(r)
