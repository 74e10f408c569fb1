"""What ``prep enhance`` (and full-resolution evaluation) runs with: the network at a working
resolution, its correction carried to full size with a guided filter (docs/stages.md: "enhance").

Torch-free, so the params loader builds it (``enhance`` in params.yaml) without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from exposure_core.schema import AtLeast, Between, ConfigError, Matches, check_fields

# Device names torch accepts here; "auto" picks cuda > mps > cpu.
DEVICE = Matches(r"auto|cpu|mps|cuda(:\d+)?|xpu(:\d+)?", "auto, cpu, cuda, cuda:N or mps")
Device = Annotated[str, DEVICE]


@dataclass(frozen=True)
class EnhanceSettings:
    """The enhancer's settings; levels are of the gamma-encoded input in [0, 1]."""

    long_side: Annotated[int, AtLeast(0)] = 0  # working long side; 0: the model's training
    # scale (short side = its train.resize), or a 512 long side when it was trained unresized
    radius: Annotated[int, AtLeast(1)] = 64  # guided-filter radius, working-resolution pixels
    eps: Annotated[float, AtLeast(0, strict=True)] = 1e-3  # guided-filter regularisation
    gain_eps: Annotated[float, AtLeast(0, strict=True)] = 1e-4  # linear-light offset that caps
    # the gain in black areas
    highlight_lo: Annotated[float, Between(0.0, 1.0)] = 0.95  # clipped input highlights take
    highlight_hi: Annotated[float, Between(0.0, 1.0)] = 0.99  # the network output itself,
    # blending in between these levels of the brightest channel
    strip_rows: Annotated[int, AtLeast(1)] = 512  # full-resolution rows at once (bounds memory)
    batch_size: Annotated[int, AtLeast(1)] = 4  # photos of the same working size per pass
    device: Device = "auto"
    format: Literal["same", "jpg", "png", "tif"] = "same"  # RAW inputs give 16-bit TIFF
    quality: Annotated[int, Between(1, 100)] = 95  # JPEG quality
    # A photo that prep filter keeps and the network brightens by less than max_lift and
    # darkens by less than max_darken (log2 of its mean-luma ratio) is returned unchanged
    # (exposure_models/inference/gate.py).
    leave_well_exposed: bool = True
    max_lift: Annotated[float, Between(0.0, 4.0)] = 0.2  # chosen on the calibration half
    max_darken: Annotated[float, Between(0.0, 4.0)] = 0.2

    def __post_init__(self) -> None:
        check_fields(self)
        if self.highlight_lo >= self.highlight_hi:
            raise ConfigError(
                "highlight_lo",
                f"must be below highlight_hi ({self.highlight_hi}), got {self.highlight_lo}",
            )
