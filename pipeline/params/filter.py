"""``filter``: the exposure thresholds (defined beside the statistics they judge,
``exposure_core.exposure_stats.FilterThresholds``) and the stage's worker count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exposure_core.exposure_stats import FilterThresholds
from exposure_core.schema import AtLeast


@dataclass(frozen=True)
class FilterParams(FilterThresholds):
    """``prep filter``: the thresholds, and how many photos are judged at once."""

    workers: Annotated[int, AtLeast(1)] = 2
