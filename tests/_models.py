"""Tiny generators with a known effect, for the tests of the enhancer and its gate."""

from __future__ import annotations

from pathlib import Path

import torch

from exposure_models.checkpoint import save_generator
from exposure_models.generator import UNetConfig, UNetGenerator


def constant_gain_model(path: Path, stops: float) -> Path:
    """Write a tiny gain-output generator that changes exposure by ``stops`` (linear light,
    within +-2) on every pixel to ``path``; returns ``path``."""
    torch.manual_seed(0)
    gen = UNetGenerator(UNetConfig(depth=4, width=4, norm="none", skip="gain", max_stops=2.0))
    with torch.no_grad():
        for p in gen.head.parameters():
            p.zero_()
        gen.head.bias.fill_(float(torch.atanh(torch.tensor(stops / 2.0))))
    save_generator(path, gen.eval(), {"resize": 0})
    return path
