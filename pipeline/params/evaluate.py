"""``evaluate``: what ``prep evaluate`` scores and reports (docs/stages.md: "evaluate")."""

from __future__ import annotations

import itertools
import typing
from dataclasses import dataclass, field
from typing import Annotated, Literal

from exposure_core.schema import AtLeast, ConfigError, check_fields

# The baselines that see only the image (pipeline/evaluation/baselines.py implements them);
# `stops` (the stops estimator's re-exposure alone, learned on MSEC training) is opt-in.
Baseline = Literal["identity", "he", "clahe", "auto_exposure", "stops"]
BLIND: tuple[str, ...] = typing.get_args(Baseline)
DEFAULT_BASELINES: tuple[str, ...] = BLIND[:4]
Count = Annotated[int, AtLeast(0)]


@dataclass(frozen=True)
class EvaluateParams:
    resolution: Count = 0  # 0 = full resolution; otherwise the long side images are resized to
    max_images: Count = 0  # 0 = every test pair
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))  # of BLIND
    oracle: bool = True  # seed 002's inverse transform with the known tau/EV
    samples: Count = 6  # sample grids written
    lpips_weights: str = ""  # TorchScript LPIPS model (optional)
    inception_weights: str = ""  # TorchScript Inception-v3 classifier for the Inception Score
    tau_buckets: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    seed: Count = 0
    workers: Count = 2  # processes for each pair's baselines and metrics (0, 1: main process)

    def __post_init__(self) -> None:
        check_fields(self)
        unknown = [b for b in self.baselines if b not in BLIND]
        if unknown:
            raise ConfigError("baselines", f"unknown {unknown}; known: {list(BLIND)}")
        edges = self.tau_buckets
        if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ConfigError("tau_buckets", f"must be increasing upper edges, got {edges}")
