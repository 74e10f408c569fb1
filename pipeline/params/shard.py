"""``shard``: how the pairs are split and packed into tar shards (docs/stages.md: "shard")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated

from exposure_core.schema import AtLeast, Between, ConfigError, check_fields
from exposure_core.splits import FRACTION_TOLERANCE

Fraction = Annotated[float, Between(0.0, 1.0)]


@dataclass(frozen=True)
class SplitFractions:
    train: Fraction = 0.8
    val: Fraction = 0.1
    test: Fraction = 0.1

    def __post_init__(self) -> None:
        check_fields(self)
        total = self.train + self.val + self.test
        if abs(total - 1.0) > FRACTION_TOLERANCE:
            shown = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())
            raise ConfigError("", f"fractions must sum to 1, got {total:.6g} ({shown})")


@dataclass(frozen=True)
class ShardParams:
    split: SplitFractions = field(default_factory=SplitFractions)
    max_samples: Annotated[int, AtLeast(1)] = 1000  # per shard
    max_bytes: Annotated[int, AtLeast(1)] = 1 << 30  # per shard
    seed: Annotated[int, AtLeast(0)] = 0  # order of samples inside a split

    def __post_init__(self) -> None:
        check_fields(self)
