"""``synthesize``: how the training pairs are made from clean photos (docs/stages.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from exposure_core.exposure import DEFAULT_GAMMA
from exposure_core.schema import AtLeast, ConfigError, check_fields

MAX_EV = 8.0  # synthesize.evs: largest exposure shift, in stops


def _tau_range(spec: str) -> tuple[float, float]:
    text = str(spec).strip()
    try:
        if ".." in text:
            lo_text, hi_text = text.split("..", 1)
            lo, hi = float(lo_text), float(hi_text)
        else:
            lo = hi = float(text)
    except ValueError as exc:
        raise ConfigError("tau", f"expected 'lo..hi' or a number, got {spec!r}") from exc
    if not (0.0 < lo <= hi <= 1.0):
        raise ConfigError("tau", f"need 0 < lo <= hi <= 1, got {spec!r}")
    return lo, hi


def parse_tau(spec: str) -> tuple[float, float]:
    """Parse ``"0.5..1"`` (uniform range) or ``"0.7"`` (fixed) into ``(lo, hi)``."""
    try:
        return _tau_range(spec)
    except ConfigError as err:
        raise err.within("synthesize") from err


@dataclass(frozen=True)
class SynthesizeParams:
    tau: str = "0.5..1"  # "lo..hi" draws tau uniformly per sample; "0.7" fixes it
    tau_samples: Annotated[int, AtLeast(0)] = 4  # overexposed variants per clean image
    evs: list[float] = field(default_factory=lambda: [-1.5, -1.0, 0.0, 1.0, 1.5])
    gamma: Annotated[float, AtLeast(0, strict=True)] = DEFAULT_GAMMA
    curve: Literal["gamma", "srgb"] = "gamma"
    format: Literal["png", "tif"] = "png"  # lossless: targets and inputs keep every code
    seed: Annotated[int, AtLeast(0)] = 0
    workers: Annotated[int, AtLeast(0)] = 2
    write_images: bool = True  # false: the manifest of recipes only (shards render variants)

    def __post_init__(self) -> None:
        check_fields(self)
        _tau_range(self.tau)
        for k, ev in enumerate(self.evs):
            if not -MAX_EV <= ev <= MAX_EV:
                raise ConfigError("evs", f"{ev} is outside -{MAX_EV:g}..+{MAX_EV:g} EV")
            if ev in self.evs[:k]:  # one photo would get one variant id several times
                raise ConfigError("evs", f"repeated value {float(ev)}")
