"""``synthesize``: how the training pairs are made from clean photos (docs/stages.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from exposure_core.exposure import DEFAULT_GAMMA
from exposure_core.schema import AtLeast, ConfigError, check_fields

MAX_EV = 8.0  # synthesize.evs: largest exposure shift, in stops
MAX_CAMERA_EV = 4.0  # synthesize.camera_*: the camera kind's range (exposure_core.camera)


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
    # The camera-like kind (exposure_core.camera): one variant per camera_evs entry, plus
    # camera_samples variants with ev uniform in camera_ev_range and |ev| >= camera_min_ev;
    # each draws its curve from camera_ranges.json and, when camera_quality is [lo, hi], a
    # JPEG re-encode quality in it ([]: none).
    camera_evs: list[float] = field(default_factory=list)
    camera_samples: Annotated[int, AtLeast(0)] = 0
    camera_ev_range: list[float] = field(default_factory=lambda: [-2.0, 2.0])
    camera_min_ev: Annotated[float, AtLeast(0)] = 0.5
    camera_quality: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_fields(self)
        _tau_range(self.tau)
        for k, ev in enumerate(self.evs):
            if not -MAX_EV <= ev <= MAX_EV:
                raise ConfigError("evs", f"{ev} is outside -{MAX_EV:g}..+{MAX_EV:g} EV")
            if ev in self.evs[:k]:  # one photo would get one variant id several times
                raise ConfigError("evs", f"repeated value {float(ev)}")
        self._check_camera()

    def _check_camera(self) -> None:
        top = MAX_CAMERA_EV
        for ev in self.camera_evs:
            if not _number(ev) or not -top <= ev <= top:
                raise ConfigError("camera_evs", f"{ev!r} is outside -{top:g}..+{top:g} EV")
        span = self.camera_ev_range
        if (
            len(span) != 2
            or not all(_number(x) for x in span)
            or not -top <= span[0] <= span[1] <= top
        ):
            raise ConfigError(
                "camera_ev_range",
                f"need [lo, hi] with -{top:g} <= lo <= hi <= {top:g}, got {span!r}",
            )
        if self.camera_samples and self.camera_min_ev > max(abs(span[0]), abs(span[1])):
            raise ConfigError(
                "camera_min_ev", f"{self.camera_min_ev} leaves nothing in camera_ev_range {span}"
            )
        q = self.camera_quality
        if q and (
            len(q) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in q)
            or not 1 <= q[0] <= q[1] <= 100
        ):
            raise ConfigError(
                "camera_quality",
                f"need [] (no re-encode) or [lo, hi] with 1 <= lo <= hi <= 100, got {q!r}",
            )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
