"""What a training task feeds the generator, and how long a run in epochs is.

``task: exposure`` trains on the pairs as stored; ``task: sr`` (seed 003's super-resolution
stage) makes each pair from the clean photo, degraded by ``scale`` per batch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import torch

from exposure_core.errors import UserError
from exposure_models.seednets.sr import degrade

Task = Literal["exposure", "sr"]


def training_samples(shards: Path, task: Task = "exposure") -> int:
    """What one epoch passes over, from ``<shards>/index.json``: the training pairs
    (``pair_counts.train``: a seed's epoch visits each input image once) for the exposure task,
    the clean photos (``counts.train``) for super-resolution, whose pairs are made from them."""
    index = shards / "index.json"
    key = "counts" if task == "sr" else "pair_counts"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        return int(data[key]["train"])
    except FileNotFoundError as err:
        raise UserError(f"{index}: no shard index; run `prep shard` first") from err
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{index}: no training-sample count ({key}.train): {err}") from err


def steps_for_epochs(epochs: float, samples: int, batch_size: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``samples``: ceil(epochs * samples / batch)."""
    return max(1, math.ceil(epochs * samples / batch_size))


def task_input(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    scale: int = 4,
    degradation: str = "bicubic",
) -> torch.Tensor:
    """The generator's input for a batch, (B, 3, H, W) RGB [0, 1]: the pair's input (``task:
    exposure``), or, for ``task: sr``, the clean target degraded by ``scale`` (the
    super-resolution pair is made from the clean photo, as seed 003 makes its own)."""
    if task == "exposure":
        return inputs
    return degrade(targets, scale, degradation)
