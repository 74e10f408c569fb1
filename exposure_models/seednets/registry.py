"""Every generator a checkpoint can hold, by the ``arch`` name its config carries."""

from __future__ import annotations

from typing import Any

from torch import nn

from exposure_models.config import SR_ARCHS
from exposure_models.generator import UNetGenerator
from exposure_models.seednets.seed002 import Seed002Generator
from exposure_models.seednets.seed003 import Seed003Generator
from exposure_models.seednets.sr import RRDBGenerator, SeedSRGenerator

__all__ = ["GENERATORS", "SR_ARCHS", "arch_of"]

GENERATORS: dict[str, Any] = {
    "unet": UNetGenerator,
    "seed002": Seed002Generator,
    "seed003": Seed003Generator,
    "seed003_sr": SeedSRGenerator,
    "rrdb": RRDBGenerator,
}


def arch_of(model: nn.Module) -> str | None:
    """The registry name of ``model``'s exact class, or None."""
    return next((name for name, cls in GENERATORS.items() if type(model) is cls), None)
