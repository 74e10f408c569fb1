"""Every generator a checkpoint can hold, by the ``arch`` name it is stored under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from exposure_core.exposure import Encoding
from exposure_models.config import PADDINGS
from exposure_models.generator import GENERATORS as UNET_GENERATORS
from exposure_models.generator import UNetConfig, UNetGenerator
from exposure_models.seednets.seed002 import Seed002Generator
from exposure_models.seednets.seed003 import Seed003Generator
from exposure_models.seednets.sr import RRDBGenerator, SeedSRGenerator


@dataclass(frozen=True)
class ZeroPadUNetConfig(UNetConfig):
    """:class:`UNetConfig` plus the padding of the bottleneck conv (seed 000: zeros)."""

    bottleneck_padding: str = "zeros"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bottleneck_padding not in PADDINGS:
            raise ValueError(
                f"bottleneck_padding must be one of {PADDINGS}, got {self.bottleneck_padding!r}"
            )


class ZeroPadUNetGenerator(UNetGenerator):
    """The pix2pix U-Net with seed 000's bottleneck: its conv pads with zeros (the seed's
    ``nn.Conv2d(features * 8, features * 8, 4, 2, 1)`` sets no padding mode), where the other
    encoder convs pad by reflection."""

    config_type = ZeroPadUNetConfig

    def __init__(
        self, config: ZeroPadUNetConfig | None = None, encoding: Encoding | None = None
    ) -> None:
        cfg = config if config is not None else ZeroPadUNetConfig()
        super().__init__(cfg, encoding)
        self.encoder[-1].conv.padding_mode = cfg.bottleneck_padding


GENERATORS: dict[str, Any] = {
    **UNET_GENERATORS,
    "unet_zeropad": ZeroPadUNetGenerator,
    "seed002": Seed002Generator,
    "seed003": Seed003Generator,
    "seed003_sr": SeedSRGenerator,
    "rrdb": RRDBGenerator,
}
SR_ARCHS = ("seed003_sr", "rrdb")


def arch_of(model: nn.Module) -> str | None:
    """The registry name of ``model``'s exact class, or None."""
    return next((name for name, cls in GENERATORS.items() if type(model) is cls), None)
